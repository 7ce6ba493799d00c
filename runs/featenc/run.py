import sys, logging
sys.path.insert(0, "src")
import torch
torch.set_num_threads(1)
logging.basicConfig(level=logging.INFO)
from styleblend.models import bundled_path, bundled_encoder_path
from styleblend.project.feature_encoder_train import FeatureTrainOptions, train_feature_head, load_feature_state
out = sys.argv[1]; r = int(sys.argv[2]); kimg = float(sys.argv[3]); resume = len(sys.argv) > 4 and sys.argv[4] == "resume"
opts = FeatureTrainOptions(network=str(bundled_path("base")), encoder=str(bundled_encoder_path()), out=out, block_res=r,
                           images="data/emoji/google", kimg=kimg, snap=0.2, tick=0.05)
state = load_feature_state(out) if resume else None
if state is not None:
    opts = FeatureTrainOptions.from_dict({**state["options"], "kimg": kimg})
print(train_feature_head(opts, resume_state=state))
