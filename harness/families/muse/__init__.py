"""The document family (MUSE, Shi et al. 2024), all of it in this package:

    track.py     the plug-in: data, models' training sets, plots (registered as "muse")
    evaluate.py  VerbMem, KnowMem, PrivLeak and memorisation of one model; the retain model's cached AUCs
    data.py      MUSE's public layout (local folders, parquet or JSON), prompts and answers
    scope.py     which items a part of the forget set covers (scalability, sustainability)
    events.py    its units of knowledge: news events (the relearning split), documents (SISA's shards)
    world.py     the synthetic news world in MUSE's schema, built offline per seed
"""
