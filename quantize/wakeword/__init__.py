"""Wake words from text: a recipe section, negative audio split by file, mining and calibration stages."""
