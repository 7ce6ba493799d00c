"""styleblend in a notebook: load, generate, blend, embed, save - with only ``import styleblend as sb``.

Run it as a script (``python examples/quickstart.py``, about a minute on a laptop CPU) or cell by cell in
an editor that knows ``# %%`` cells (VS Code, PyCharm, Jupytext). It uses the 64 px emoji models shipped
with styleblend, so nothing is downloaded; files go to ./quickstart-out/.
"""

# %% Load the bundled base model (Noto emoji) and its transfer (fine-tuned to Twemoji style)
from pathlib import Path

import styleblend as sb

OUT = Path("quickstart-out")
OUT.mkdir(exist_ok=True)
STEPS = 50  # embedding steps after the encoder's prediction

base = sb.load(sb.bundled("base"))
transfer = sb.load(sb.bundled("transfer"))
print(base.describe(), base.g_config.img_resolution, "px")

# %% Generate: seeds -> uint8 images [N, H, W, 3]; seed N is the image NVIDIA's generate.py makes
images = sb.generate(base, [1, 3, 5, 8], truncation_psi=0.7)
sb.save_image(images, OUT / "base-seeds.png")

# %% Blend by resolution: the schedule is a value (Swap, Linear, Sigmoid, Table, WeightTable)
swap = sb.blend_models(base, transfer, sb.Swap(16))  # structure up to 16 px from the transfer
ramp = sb.blend_models(base, transfer, sb.Linear(8, 32))  # α fades from 1 at 8 px to 0 at 32 px
rows = [sb.generate(model, [1, 3, 5, 8], truncation_psi=0.7) for model in (base, swap, ramp, transfer)]
sb.save_image(rows, OUT / "blends.png", cols=4)  # rows: base, swap 16, linear 8-32, transfer

# %% Latents: W+ from seeds, an interpolation, and a crossover (coarse layers of one, fine of another)
G = base.generator()
ws = sb.seeds_to_ws(G, [3, 21], truncation_psi=0.7)  # [2, num_ws, w_dim]
morph = sb.interpolate(ws[0], ws[1], steps=6)  # [6, num_ws, w_dim], ends exact
sb.save_image(sb.generate(G, morph), OUT / "morph.png")
mixed = sb.crossover(ws[0], ws[1], layers=range(0, 4))  # layers 0-3 (4-8 px) from seed 3, the rest from 21
sb.save_latents(OUT / "mixed.npz", mixed[None])
assert (sb.load_latents(OUT / "mixed.npz", G) == mixed).all()

# %% Embed a held-out emoji with the bundled encoder, then render its latent through the blends (toonify)
result = sb.embed(G, sb.bundled("heldout-woman"), encoder=sb.bundled("encoder"), steps=STEPS)
print(f"embedding loss {result.history[0]['loss']:.4f} -> {result.final_loss:.4f} in {result.steps_done} steps")
toons = [sb.generate(model, result.ws)[0] for model in (base, swap, ramp, transfer)]
sb.save_image(toons, OUT / "toonified.png")

# %% Save the blend in styleblend's format (safetensors + its architecture as JSON; no code in the file)
sb.save(swap, OUT / "swap16.safetensors")
assert sb.load(OUT / "swap16.safetensors").g_config == swap.g_config
print("wrote", OUT)
