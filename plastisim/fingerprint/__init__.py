"""The fingerprint of a trained plasticity rule, from its recorded three factors.

    ds = plastisim.open_run("run.nc")        # recorded with record.factors = "all"
    fp = fingerprint(ds, stages=4)           # xarray in, xarray out (report)
    print(table(fp))

The reader (``factors``), the BCM-form rate dependence and its sliding threshold (``bcm``),
the modulator statistics (``modulator``), the weight distribution beside Song et al. (2005)
(``weights``); ``plastisim fingerprint RUN.nc`` prints the table and writes the Dataset and a
figure (``plastisim.cli.fingerprint``: only the CLI draws).
"""
from ..errors import ConfigError
from .bcm import fit as fit_bcm, phi, sliding
from .factors import check_stages, products, projections, recorded_steps, stages
from .modulator import modulator, sign_fractions
from .report import fingerprint, table
from .slice import modulator_samples, predict, rate_moments
from .weights import distribution, lognormal_fit, weight_stats

FingerprintError = ConfigError      # bad input: a one-line ConfigError (plastisim.errors)

__all__ = [
    # the fingerprint
    "fingerprint", "table", "FingerprintError",
    # the recorded factors
    "projections", "products", "recorded_steps", "stages", "check_stages",
    # its parts
    "phi", "fit_bcm", "sliding", "modulator", "sign_fractions", "weight_stats",
    "distribution", "lognormal_fit",
    # slice predictions of the spiking forms (slice.py)
    "modulator_samples", "rate_moments", "predict",
]
