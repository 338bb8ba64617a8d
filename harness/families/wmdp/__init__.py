"""The hazardous-knowledge family (WMDP, Li et al. 2024), all of it in this package:

    track.py     the plug-in: corpora, evaluation through lm-eval, plots (registered as "wmdp")
    mcq.py       multiple-choice files in WMDP's schema, WMDP's prompt, lm-eval task files and accuracy
    entities.py  its unit of knowledge, the hazard entity: the relearning split, the control base's data
    world.py     the synthetic hazard world (corpora and questions), built offline per seed
"""
