"""Who reads the feeds, counted without keeping anyone's address: subscribers per feed and
reader from what aggregators report in their User-Agent, other clients once a day each."""
