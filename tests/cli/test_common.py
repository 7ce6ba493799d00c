

def test_batch_defaults_to_one_image_per_pass_for_large_models_on_the_cpu():
    import argparse

    from styleblend.cli.common import DEFAULT_BATCH, check_against_network, default_batch
    from styleblend.config import GeneratorConfig

    assert default_batch("cpu", 256) == 1 and default_batch("cpu", 128) == 1
    assert default_batch("cpu", 64) == DEFAULT_BATCH and default_batch("cuda:1", 1024) == DEFAULT_BATCH
    args = argparse.Namespace(batch=None, device="cpu")
    check_against_network(args, GeneratorConfig(img_resolution=256))
    assert args.batch == 1
    given = argparse.Namespace(batch=3, device="cpu")
    check_against_network(given, GeneratorConfig(img_resolution=256))
    assert given.batch == 3  # a given --batch is kept
