"""What model calls cost, and the monthly budget they are spent against."""
