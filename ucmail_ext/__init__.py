"""ucmail_ext: the email channel of a contact center, as a Flask extension."""

from ucmail_ext.extension import UCMail

__version__ = "0.1.0"
__all__ = ["UCMail", "__version__"]
