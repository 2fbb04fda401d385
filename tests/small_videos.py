"""The overrides of a tiny end-to-end run, for the tests that train one."""

# a small set: 8 synthetic videos of 8 s; 32-frame windows of 32 px crops
SMALL_DATA = [
    "data.synthetic_videos.num_videos=8",
    "data.synthetic_videos.duration_sec=8.0",
    "data.image_size=32",
    "data.resize_short_side=36",
    "data.max_seq_len=32",
    "train.progress=false",
]

# a tiny end-to-end run on it: the tiny video preset, one epoch
SMALL_VIDEOS = ["tiny_synthetic_videos", *SMALL_DATA, "train.epochs=1", "optim.warmup_epochs=0"]
