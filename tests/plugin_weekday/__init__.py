"""A modality added from outside automm, as a user's package would: a new column kind ("weekday")
with a frozen embedder in features.py and the fusion nets' encoder in encoder.py. Importing this
package registers both."""
from . import encoder, features  # noqa: F401
