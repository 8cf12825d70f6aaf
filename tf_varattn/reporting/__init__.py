"""Tables 2 and 4 (paper vs. ours, with bootstrap intervals), Figures 4 and 5, the case study
(Table 3), the paper's claims, the bypass report and the latent curves, all from the files that training and
evaluation leave in the run directories. One module each; the paper's numbers live in ``paper``."""

from tf_varattn.reporting.bypass import render_bypass
from tf_varattn.reporting.case_study import render_case_study
from tf_varattn.reporting.claims import render_claims
from tf_varattn.reporting.figures import plot_attention, plot_figure4, plot_figure5, plot_latent_curves
from tf_varattn.reporting.paper import EXTRA_TABLE2, METRICS, NAMES, PAPER_TABLE2, PAPER_TABLE4, TABLES, table_presets
from tf_varattn.reporting.run_files import RETRAIN_FOLDER, gamma_runs
from tf_varattn.reporting.seeds import SEED_FOLDER, render_seeds, seed_runs
from tf_varattn.reporting.tables import preload_scores, render_table, settings_differences, table_runs

__all__ = [
    "EXTRA_TABLE2", "METRICS", "NAMES", "PAPER_TABLE2", "PAPER_TABLE4", "RETRAIN_FOLDER", "SEED_FOLDER", "TABLES", "gamma_runs",
    "plot_attention", "plot_figure4", "plot_figure5", "plot_latent_curves", "preload_scores", "render_bypass",
    "render_case_study", "render_claims", "render_seeds", "render_table", "seed_runs", "settings_differences", "table_presets", "table_runs",
]
