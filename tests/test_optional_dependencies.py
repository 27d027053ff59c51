"""Optional dependencies: a missing one is a TwinCellError naming the extra that installs it, never a bare ImportError."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from twincell.errors import MissingDependencyError, TwinCellError, optional_import


def test_optional_import_returns_the_module_or_names_the_extra(monkeypatch):
    assert optional_import("json", "de", "anything").dumps([1]) == "[1]"
    monkeypatch.setitem(sys.modules, "scanpy", None)  # an import of scanpy now raises ImportError
    with pytest.raises(MissingDependencyError, match="needs scanpy") as err:
        optional_import("scanpy", "de", "a signature by scanpy's Wilcoxon test")
    assert isinstance(err.value, TwinCellError) and err.value.hint == "pip install 'twincell[de]'"


def test_signature_without_scanpy_or_pydeseq2_names_the_de_extra(monkeypatch):
    import anndata as ad
    import pandas as pd

    from twincell.data.signatures import signature_from_anndata

    rng = np.random.default_rng(0)  # SYNTHETIC counts: 8 cells x 3 genes, two groups
    adata = ad.AnnData(rng.poisson(5, (8, 3)).astype(np.float32),
                       obs=pd.DataFrame({"condition": ["d"] * 4 + ["h"] * 4}, index=[f"c{i}" for i in range(8)]),
                       var=pd.DataFrame(index=["EGFR", "MAP2K1", "JUN"]))
    for module, method in (("scanpy", "wilcoxon"), ("pydeseq2", "deseq2")):
        monkeypatch.setitem(sys.modules, module, None)
        monkeypatch.setitem(sys.modules, f"{module}.dds", None)
        with pytest.raises(MissingDependencyError, match=f"needs {module}") as err:
            signature_from_anndata(adata, "condition", "d", "h", method=method)
        assert "twincell[de]" in err.value.hint


def test_service_without_fastapi_names_the_service_extra():
    code = ("import sys; sys.modules['fastapi'] = None\n"
            "from twincell.errors import MissingDependencyError\n"
            "try:\n    import twincell.service\nexcept MissingDependencyError as e:\n    print('HINT', e.hint)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HINT pip install 'twincell[service]'" in out.stdout
