"""The EuroMineNet segmenters, one paper architecture per module (imported by ``euromine_hf.models``)."""
