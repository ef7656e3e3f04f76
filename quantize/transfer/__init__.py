"""What a model can borrow: the backbone, fine-tuning, adaptation, multi-task heads, the speech teacher."""
