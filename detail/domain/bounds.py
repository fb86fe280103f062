"""What a stored value can be at all, whoever sends it: the years a time may fall in, the largest id."""

# Times outside these years are typing mistakes, and shown in a venue's zone they overflow.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2200
# Database ids are 64-bit: anything larger names nothing (and would overflow the driver).
MAX_ID = 2**63 - 1
