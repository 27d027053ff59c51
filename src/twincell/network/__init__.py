"""The human interactome: PPI backbone, signs and the TF -> target layer, stored as CSR."""

from twincell.network.interactome import Interactome

__all__ = ["Interactome"]
