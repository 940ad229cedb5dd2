from openparts.evaluation import tables


def test_set_keys_tell_the_test_set_from_its_copy_with_predicted_masks() -> None:
    metrics = {"pim-val/model/AP": 1.0, "pim-val-mask2former-coco/model/AP": 2.0, "pim-val/slic/AP": 3.0}
    assert tables.set_keys(metrics) == {"perfect": "pim-val", "imperfect": "pim-val-mask2former-coco"}
    assert tables.set_keys({"a/model/AP": 1.0, "b/model/AP": 1.0}) == {}  # two unrelated sets: ambiguous, nothing read


def test_table2_puts_each_variant_metric_in_its_row_and_dashes_the_rest() -> None:
    runs = {
        "partimagenet-3ch": {
            **{"v/model/AP": 0.0, "v-salient/model/AP": 0.0},
            **{"v/ablation/none/AP": 12.5, "v/ablation/post-imperfect/AP50": 33.25},
        },
        "partimagenet-4ch": {"v/model/AP": 0.0, "v/ablation/pre+post-perfect/AP": 80.0},
    }
    lines = tables.render(2, runs, {"partimagenet-3ch": "0123456789abcdef"})
    pascal_at = lines.index("**pascal-part-58**")
    row = {line.split(" | ")[0]: line for line in lines[:pascal_at] if line.startswith("| ")}
    assert row["| none"].startswith("| none | 40.01 | 12.50 | 70.38 | - | partimagenet-3ch |")
    assert "| 71.03 | 33.25 |" in row["| post-imperfect"]
    assert [line for line in lines if line.startswith("| pre+post-perfect | 87.61 | 80.00 |")]
    assert any("partimagenet-3ch (01234567)" in line for line in lines)
    pascal = lines[pascal_at:]
    assert all(" | - | " in line for line in pascal if line.startswith("| none"))


def test_table3_reads_the_base_model_from_the_ops_run() -> None:
    runs = {"OPS": {"t/model/AP": 41.0, "t/base/AP": 39.0, "t-salient/model/AP": 30.0, "t-salient/base/AP": 29.0}}
    lines = tables.render(3, runs)
    assert "| base | 38.96 | 29.00 |" in "\n".join(lines)  # imperfect section: the copy's key
    assert "| base | 83.52 | 39.00 |" in "\n".join(lines)
    assert "| SS | 40.17 | - |" in "\n".join(lines)
