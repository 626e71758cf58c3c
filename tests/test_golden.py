"""Golden hashes: SHA-256 of the exact float32 bytes small fixed runs produce, so moving code is checked bit for bit.

They pin training and fine-tuning (one block of models, and two blocks that step in forked processes), and every
method of the registry at one setting, each from the same trained pair of models on a tiny synthetic table (CPU,
fixed seeds). A changed hash is a changed number. If the change is meant, say why in its commit, and regenerate
the table with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py -s -n 0

which prints the new ``GOLDEN`` to paste below. Each run is hashed at 1 and at 2 torch threads (the count fixes
how many processes train side by side) and must give the same bits at both. The bits depend on the CPU's kernels
and on PyTorch's version, so on a platform other than ``PLATFORM`` the test is skipped with its reason.
"""

import hashlib
import os

import pytest
import torch

from nbutils.data import tensors
from nbutils.methods import METHODS
from nbutils.methods.finetune import retain_sgd
from nbutils.model import MLPEnsemble
from nbutils.runtime import generator
from nbutils.train import train_ensemble

CPU = torch.device("cpu")
PLATFORM = "torch 2.13.0+cpu, AVX512"
K, FEATURES, HIDDEN, DROPOUT = 2, 6, [12, 8], 0.3
# Every parameter a method reads, small enough that the whole file runs in seconds
PARAMS = dict(
    adaptive_importance_weight=2.0, finetune_lr=0.1, finetune_batch_size=16, repair_base="gaussian",
    repair_base_value=0.05, repair_with="finetune", certified_delta=1e-5, certified_radius=20.0,
    certified_repair_steps=3, langevin_clip_quantile=0.5, langevin_l2=1e-4, neggrad_lr=0.01, forget="random",
    epochs=2, salun_epochs=1, salun_lr=0.013, salun_branch="sequential", last_layers_epochs=1, last_layers_lr=0.01,
    l1_epochs=1, l1_lr=0.01, badteacher_retain_share=0.3, msg_epochs=2, msg_lr=0.001, cfw_epochs=2, cfw_lr=0.0007)
SETTING = {
    "gaussian": 0.05, "laplacian": 0.05, "adaptive": 0.05, "layerwise": [0.01, 0.02, 0.03], "gradient": 0.5,
    "fisher": 1e-6, "repair": 5, "finetune": 5, "certified": 5.0, "langevin": (0.01, 5), "dampening": (1.0, 1.0),
    "neggrad": (0.9, 1, 1.0), "scrub": 0.005, "salun": (0.5, 1.0), "cfk": 2, "euk": 2, "l1sparse": 1e-4,
    "badteacher": (1, 0.001), "fcs": (1, 1.0), "msg": 0.3, "cfw": 0.2}
GOLDEN = {
    "train": "5547e0da41eeacd0d750e6501c19e9aaaee82aa7ea17ca163092e739d93cc45c",
    "train, two blocks": "2215dc066f1ae337286245be2d6acf10fb4a8ac77c5f6083998f4bce2120b344",
    "finetune, two blocks": "b44e8dc20aeefb987e92f6f59a2534c4f2d3934766718adc8e886b91d0f0b7bd",
    "gaussian": "1699265cafb50902547cea9a5988457814f19b288e449caee298dbd3370154b9",
    "laplacian": "e9e90cf5e570b6a5ee31fd6b607415d4eaa95b29abbf055704f372432b255060",
    "adaptive": "f33668fc717d2f67764a4949802ddbf96c92b6ac1d6e2ed57c9b03d8ff520d11",
    "layerwise": "c7fb8dea6f2df77b8381c56e82404bd774313c5b64a782cf4168ef4d3564b389",
    "gradient": "f6385c1b103326467e622ce53c31ea0a719c191a3fd45d4e80de151325037ccb",
    "fisher": "96153ebf44169543041cae02338554256a35cd7a9c1904ff920f8c6c33e68137",
    "repair": "4ec983f36b8310517c383db28dd59041d1c71bee9f6ea634453afa1fdff8de27",
    "finetune": "d98a189c90f8f4bb3bbb47736f1b2059e43a092a6c17fc8cb97745a2706185ff",
    "certified": "5490d9f8d5304af87f23f3b47b4d607b51b5fcfd9c4a8cb1393931dafe173ad0",
    "langevin": "e97e8252eb7157967bf52cc3d8e44ef9b2fd43242dbf3a477568c9d9c0a7f164",
    "dampening": "4de8a1a8debd0d58113e513e7f0f0756eb9f9fce98c1dc5195499677e17e0585",
    "neggrad": "5cb4ebca12529e3eb2d5ffefb0355215deabf1798391eb2ece1c11a512f5003a",
    "scrub": "7d2b8185a0afe1aaacdb58f7bc3e3e62f7cbcf92bcbb0f1c2f779772739e345d",
    "salun": "826757f977aa54b3947b671b8bf9281f899d80f3637ea0f3aced3ef169401962",
    "cfk": "14ccc115925870bf8e824584e5a8f5edb649a1b9732a03a5cfdeff8bcd4df3be",
    "euk": "5df883f40eece094d7f50cf6d087212bdec80308c00dae3450a18fb63c45e50f",
    "l1sparse": "17efac28841c184dc50b403740cc8e046bb0ea8325041f1bdf3f3a7b043f0105",
    "badteacher": "1f9b2afbcde6ca63d4439ec10f0661f65622e07493d40bcb8ee2be6f1662e341",
    "fcs": "c319bc8ba799d0edfebee5080bd4948c455bc7774f0239757643ab7a978bda0e",
    "msg": "11d62491bbfdcb29f612e45e9b1590efb1b8d66a09001ea5ef3a90f81bba4a66",
    "cfw": "2d592870ac1db1a68f936e833be076546f5e7f67c303a6f09b1176459dc95630",
}


def table(n_retain=200, n_forget=24, n_test=40):
    """Retain, forget and test rows with labels from a noisy linear rule."""
    g = torch.Generator().manual_seed(24)
    X = torch.randn(n_retain + n_forget + n_test, FEATURES, generator=g)
    y = (X @ torch.linspace(-1, 1, FEATURES) + 0.5 * torch.randn(len(X), generator=g) > 0).long()
    cut = [n_retain, n_retain + n_forget]
    return tensors.Splits(X[:cut[0]], y[:cut[0]], X[cut[0]:cut[1]], y[cut[0]:cut[1]], X[cut[1]:], y[cut[1]:])


def digest(*tensors):
    """SHA-256 of the tensors' bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def model_digest(model):
    return digest(*model.state_dict().values())


def trained(splits, batch_size, epochs):
    """A fresh pair of models trained on the retain and forget rows; (model, losses)."""
    model = MLPEnsemble(K, FEATURES, HIDDEN, 2, DROPOUT, generator(CPU, 0, "original"))
    losses = train_ensemble(model, splits.X_train, splits.y_train, epochs=epochs, batch_size=batch_size, lr=0.01,
                            generator=generator(CPU, 0, "train"))
    return model, torch.from_numpy(losses)


def hashes():
    """{run: hash} of every run this file pins, at the current thread count."""
    splits = table()
    model, losses = trained(splits, batch_size=32, epochs=3)
    two_blocks, two_losses = trained(splits, batch_size=512, epochs=2)  # 2 x 512 model-rows a step: two blocks
    out = {"train": digest(*model.state_dict().values(), losses),
           "train, two blocks": digest(*two_blocks.state_dict().values(), two_losses)}
    out["finetune, two blocks"] = model_digest(retain_sgd(model, splits.X_retain, splits.y_retain, steps=3, lr=0.1,
                                                          batch_size=512, generator=generator(CPU, 1, "two")))
    for name, method in METHODS.items():
        before = model_digest(model)
        out[name] = model_digest(method.apply(model, SETTING[name], generator(CPU, 1, name), splits, PARAMS))
        assert model_digest(model) == before, f"{name} changed its input"
    return out


@pytest.fixture(scope="module")
def computed():
    if f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}" != PLATFORM:
        pytest.skip(f"golden hashes are for {PLATFORM}; regenerate them here with UPDATE_GOLDEN=1 (module docstring)")
    before = torch.get_num_threads()
    try:
        runs = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs[threads] = hashes()
    finally:
        torch.set_num_threads(before)
    if os.environ.get("UPDATE_GOLDEN"):
        print("\nGOLDEN = {\n" + "".join(f'    "{k}": "{v}",\n' for k, v in runs[1].items()) + "}")
    return runs


@pytest.mark.parametrize("run", ["train", "train, two blocks", "finetune, two blocks", *METHODS])
def test_weights_match_their_golden_hash_at_one_and_two_threads(run, computed):
    assert computed[1][run] == computed[2][run], f"{run}: 1 and 2 threads give different bits"
    if os.environ.get("UPDATE_GOLDEN"):
        pytest.skip("UPDATE_GOLDEN: printed the new hashes")
    assert computed[1][run] == GOLDEN[run], f"{run}: the weights changed (module docstring: how to regenerate)"
