"""The example chat project: a multi-room chat showing every feature of easy_channels."""
