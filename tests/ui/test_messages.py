"""Library messages in the page's words: controls instead of parameter names, file names instead of temp paths."""

from __future__ import annotations

from styleblend.errors import InvalidArgumentError
from styleblend.ui.messages import PAGE_CONTROLS, PIXEL_LOSS_NOTE, hide_paths, page_message, page_status


def test_parameters_become_the_controls_that_set_them():
    exc = InvalidArgumentError("linear ramp from 16 to 8: to-res must be larger than from-res (use `flip` to reverse "
                               "the direction)", param="flip")
    assert page_message(str(exc), exc.params) == ("linear ramp from 16 to 8: to-res must be larger than from-res (use "
                                                  "the 'flip' box to reverse the direction)")
    # A parameter the page has no word for loses its backticks; ordinary words stay.
    assert page_message("`loss` 'dfeat' needs the steps", ("loss",)) == "loss 'dfeat' needs the steps"
    assert all("`" not in words for words in PAGE_CONTROLS.values())


def test_paths_in_the_session_folder_become_file_names(tmp_path):
    work = tmp_path / "styleblend-ui-abc"
    text = f"'{work}/photo-3/notes.txt' is not an image; {work}/upload-1/x.pkl: bad; /etc/other stays"
    assert hide_paths(text, work) == "'notes.txt' is not an image; x.pkl: bad; /etc/other stays"
    assert page_message(text, (), work).startswith("'notes.txt' is not an image")


def test_a_job_status_is_rewritten_without_touching_the_original(tmp_path):
    status = {"id": "embed-1", "state": "failed", "error": f"{tmp_path}/photo-1/a.png: broken",
              "info": {"warning": "pass `vgg_path`"}}
    shown = page_status(status, tmp_path)
    assert shown["error"] == "a.png: broken" and shown["info"]["warning"] == "pass " + PAGE_CONTROLS["vgg_path"]
    assert status["info"]["warning"] == "pass `vgg_path`"  # the job's own record is unchanged
    assert "download" not in PIXEL_LOSS_NOTE and "`" not in PIXEL_LOSS_NOTE
