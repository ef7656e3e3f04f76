"""The one fit, its objectives, the model zoo and the classifier trainer."""
