"""The fictitious-author family (TOFU, Maini et al. 2024), all of it in this package:

    track.py     the plug-in: data, models' training sets, evaluation, plots (registered as "tofu")
    metrics.py   every metric it reports, declared once, and the unlearning curve's cheap numbers
    qa.py        the question-answer evaluator: truth ratios, probabilities, ROUGE, per-item records
    reference.py the retain model's cached numbers, held-out selection
    stats.py     its 95% bootstrap intervals over items
    authors.py   its unit of knowledge, the author: verified row blocks, the relearning split, SISA's units
    world.py     the synthetic author world in TOFU's public schema, built offline per seed
"""
