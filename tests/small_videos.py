"""The overrides of a tiny end-to-end run, for the tests that train one."""

# a tiny end-to-end run: 8 synthetic videos of 8 s at 32 px, one epoch
SMALL_VIDEOS = [
    "tiny_synthetic_videos",
    "data.synthetic_videos.num_videos=8",
    "data.synthetic_videos.duration_sec=8.0",
    "data.image_size=32",
    "data.resize_short_side=36",
    "data.max_seq_len=32",
    "train.progress=false",
    "train.epochs=1",
    "optim.warmup_epochs=0",
]
