#!/usr/bin/env python
"""Train a EuroMineNet mapping model.

    python train.py                         # the embedded demo (synthetic data, a few CPU minutes)
    python train.py --output_dir X          # the demo, written under X
    python train.py --model segformer --data_dir /data/EuroMineNet --output_dir outputs/segformer
    accelerate launch --config_file configs/ddp.yaml train.py --model unet ...

All options: python train.py --help (HfArgumentParser over euromine_hf.training.arguments).
"""

import sys

from euromine_hf.training.main import main

if __name__ == "__main__":
    sys.exit(main())
