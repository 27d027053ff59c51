"""Data layer: bundled data, gene identifiers, drugs, perturbation datasets, disease signatures."""
