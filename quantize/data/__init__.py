"""Audio in: clip lists from folders, manifests and Speech Commands; TTS; negatives; augmentation."""
