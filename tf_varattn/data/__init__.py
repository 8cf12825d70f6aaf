"""Data: the paper's CSV splits, the reference preprocessing, tf.data batches, word2vec."""

from tf_varattn.data.corpora import TASKS, DataError, TaskSpec, load_split, resolve_data_dir
from tf_varattn.data.vocab import TaskVocabulary, Vocabulary

__all__ = [
    "TASKS",
    "DataError",
    "TaskSpec",
    "TaskVocabulary",
    "Vocabulary",
    "load_split",
    "resolve_data_dir",
]
