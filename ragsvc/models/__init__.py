"""Finding model weights on disk: registry packages, local paths, Hugging Face repos."""
