"""The large model: any OpenAI-compatible endpoint; a local llama.cpp server offline."""
