"""What a document is, without rendering it: which articles it holds (plan.py), where it
lives and what it is called (urls.py), its validators and lifetime (validators.py), and the
document every format renders (assemble.py); plus the OPML directory of every feed."""
