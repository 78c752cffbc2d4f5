"""Event sinks. Each implements `Publisher`; the pipeline fans every event out to all of them."""

from .base import Publisher
from .stdout import StdoutPublisher

__all__ = ["Publisher", "StdoutPublisher"]
