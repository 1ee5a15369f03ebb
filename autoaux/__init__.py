"""autoaux: automatic auxiliary-task selection and mixing for multi-task NLP."""
