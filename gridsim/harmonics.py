"""Harmonic sources by type and IEC 61000-4-7 waveform windows with true labels.

A source injects harmonic currents I_h (relative to its fundamental). The voltage distortion
at the meter is V_h = |Z(h)|·I_h with Z(h) = R + j·h·X the Thevenin impedance at the meter's
node (zero-sequence impedance for triplen orders, which are zero-sequence in a 4-wire
system), plus background distortion from the MV network.

Source signatures (docs/standards "Harmonics"):
* ``six_pulse_drive``: h = 6k±1 (5, 7, 11, 13, ...), I_h ≈ I1/h reduced by commutation.
* ``smps_led``: triplen-dominated (3, 9) with 5, 7: single-phase capacitor-input rectifiers.
* ``pv_inverter``: low THD; small 3/5/7 plus switching-frequency sidebands (h ≈ 35-49).
* ``background``: linear load; only the supply's own 5th/7th/3rd background distortion.

Mixtures: a meter's current is the sum of its loads' currents, so a window tied to the RMS
timeline carries every source type at its share of the fundamental (``mix``, from the loads
at that meter and time: ``gridsim.loads.harmonic_shares``), each with its own harmonic phase
angles (diversity partly cancels). The label ``source_type`` is the source contributing the
largest harmonic current (√Σ_{h≥2} I_h²); ``background`` when linear load dominates.

Windows follow IEC 61000-4-7: ``n_cycles`` = 10 at 50 Hz, 12 at 60 Hz (≈200 ms, 5 Hz bins),
``samples_per_cycle`` samples per cycle (sample rate = samples_per_cycle·f0). Measurement
noise is white Gaussian at the stated SNR (dB, relative to the signal power).
THD = √(Σ_{h=2..40} U_h²)/U_1 × 100 % (EN 50160 / IEC 61000-4-7, H = 40).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SOURCE_TYPES = ("background", "six_pulse_drive", "smps_led", "pv_inverter")
H_MAX = 50  # orders synthesised (IEEE 519 range); THD uses H = 40


def n_cycles_for(f0: float) -> int:
    """IEC 61000-4-7 window length in cycles: 10 at 50 Hz, 12 at 60 Hz (≈200 ms)."""
    return int(round(0.2 * f0))


def current_spectrum(source: str, rng: np.random.Generator) -> np.ndarray:
    """Harmonic current magnitudes I_h/I_1 for h = 0..H_MAX (index = order)."""
    m = np.zeros(H_MAX + 1)
    m[1] = 1.0
    if source == "six_pulse_drive":
        red = rng.uniform(0.6, 0.95)  # commutation overlap reduces the 1/h ideal
        for k in range(1, 9):
            for h in (6 * k - 1, 6 * k + 1):
                if h <= H_MAX:
                    m[h] = red / h * rng.uniform(0.85, 1.1) * (1.0 if h < 20 else 0.6)
        m[3] = rng.uniform(0.0, 0.02)
    elif source == "smps_led":
        m[3] = rng.uniform(0.6, 0.85)
        m[5] = m[3] * rng.uniform(0.45, 0.65)
        m[7] = m[3] * rng.uniform(0.25, 0.4)
        m[9] = m[3] * rng.uniform(0.3, 0.45)
        m[11], m[13], m[15] = m[3] * rng.uniform(0.05, 0.15, 3)
    elif source == "pv_inverter":
        m[3], m[5], m[7] = rng.uniform(0.002, 0.007, 3)
        hc = int(rng.integers(39, 44))  # switching frequency / f0 (≈2 kHz at 50 Hz)
        for h in (hc - 4, hc - 2, hc + 2, hc + 4):
            m[h] = rng.uniform(0.008, 0.02)
    elif source == "background":
        m[5], m[7], m[3] = rng.uniform(0.01, 0.03), rng.uniform(0.005, 0.015), 0.005
    else:
        raise ValueError(f"unknown source {source!r}; choose from {SOURCE_TYPES}")
    return m


def relative_current(
    src: np.ndarray, mix: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Complex current spectra relative to the fundamental (n, H_MAX+1) and source labels.

    ``mix`` None: one source per window (``src``). Otherwise ``mix`` (n, len(SOURCE_TYPES))
    fundamental shares; the label is the type with the largest harmonic current.
    """
    n = len(src)
    h = np.arange(H_MAX + 1)
    if mix is None:
        spec = np.stack([current_spectrum(s, rng) for s in src])
        return spec * np.exp(1j * rng.uniform(0, 2 * np.pi, spec.shape)) * (h > 1) + (h == 1), src
    shares = np.asarray(mix, float) / np.asarray(mix, float).sum(axis=1, keepdims=True)
    total = np.zeros((n, H_MAX + 1), complex)
    harm = np.zeros((n, len(SOURCE_TYPES)))
    for c, typ in enumerate(SOURCE_TYPES):
        spec = np.stack([current_spectrum(typ, rng) for _ in range(n)]) * shares[:, c, None]
        spec[:, 0:2] = 0.0
        harm[:, c] = np.sqrt((spec**2).sum(axis=1))
        total += spec * np.exp(1j * rng.uniform(0, 2 * np.pi, spec.shape))
    total[:, 1] = 1.0
    # linear load (background) only carries the supply's distortion: it "wins" only where the
    # non-linear sources together draw less harmonic current than it would
    return total, np.array(SOURCE_TYPES)[np.argmax(harm, axis=1)]


def typical_harmonic_current() -> np.ndarray:
    """Mean harmonic current √Σ_{h≥2} I_h² per unit fundamental of each type (SOURCE_TYPES
    order), over 200 draws of ``current_spectrum`` (fixed seed: a property of the models)."""
    rng = np.random.default_rng(0)
    return np.array(
        [
            np.mean([np.sqrt((current_spectrum(t, rng)[2:] ** 2).sum()) for _ in range(200)])
            for t in SOURCE_TYPES
        ]
    )


def thd_from_magnitudes(mag: np.ndarray, h_max: int = 40) -> float:
    """THD (%) = √(Σ_{h=2..h_max} U_h²) / U_1 × 100 (IEC 61000-4-7, EN 50160)."""
    return float(np.sqrt(np.sum(mag[2 : h_max + 1] ** 2)) / mag[1] * 100.0)


def harmonic_magnitudes(x: np.ndarray, n_cycles: int, h_max: int = 40) -> np.ndarray:
    """IEC 61000-4-7 harmonic subgroup magnitudes (RMS) of a window of ``n_cycles`` cycles.

    Subgroup h = root-sum-square of the DFT bins at h·f1 and its two neighbours (5 Hz bins).
    Returns array (..., h_max+1) indexed by order.
    """
    n = x.shape[-1]
    spec = np.fft.rfft(x, axis=-1) / n * np.sqrt(2)  # RMS per bin
    p = np.abs(spec) ** 2
    out = np.zeros(x.shape[:-1] + (h_max + 1,))
    for h in range(1, h_max + 1):
        b = h * n_cycles
        out[..., h] = np.sqrt(p[..., b - 1 : b + 2].sum(axis=-1))
    return out


def thd_from_waveform(x: np.ndarray, n_cycles: int, h_max: int = 40) -> np.ndarray:
    """THD (%) of a sampled window via IEC 61000-4-7 harmonic subgroups."""
    m = harmonic_magnitudes(x, n_cycles, h_max)
    return np.sqrt((m[..., 2:] ** 2).sum(axis=-1)) / m[..., 1] * 100.0


def generate_windows(
    n: int,
    f0: float,
    un: float,
    rng: np.random.Generator,
    z1: np.ndarray,
    z0: np.ndarray,
    i1_amps: np.ndarray,
    weights: dict[str, float] | None = None,
    samples_per_cycle: int = 128,
    snr_db: tuple[float, float] = (30.0, 60.0),
    chunk: int = 5000,
    mix: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Voltage and current waveform windows with true source type and true THD.

    Args:
        n: number of windows.
        f0, un: nominal frequency (Hz) and phase-to-neutral voltage (V).
        z1, z0: (n,) complex Thevenin impedance at each window's meter (ohm, fundamental).
        i1_amps: (n,) fundamental RMS current of the harmonic source (A).
        weights: source-type weights.
        samples_per_cycle: sample rate = samples_per_cycle·f0.
        snr_db: range of measurement SNR drawn per window.
        mix: (n, len(SOURCE_TYPES)) fundamental shares of the source types per window (a
            mixture tied to the loads); None draws one source per window from ``weights``.

    Returns:
        arrays: ``voltage``/``current`` int16 (n, samples) with per-window float32 scales
        ``voltage_scale``/``current_scale`` (value = int16·scale, V / A), and
        ``sample_rate_hz`` (n,); labels DataFrame: source_type, true_thd_v_pct,
        true_thd_i_pct, snr_db, dominant_orders, fundamental_hz, sample_rate_hz,
        samples_per_cycle, n_cycles.
    """
    weights = weights or {s: 1.0 for s in SOURCE_TYPES}
    types = list(weights)
    p = np.array([weights[t] for t in types], float)
    src = rng.choice(types, size=n, p=p / p.sum())
    nc = n_cycles_for(f0)
    ns = nc * samples_per_cycle
    fs = samples_per_cycle * f0
    t = np.arange(ns) / fs
    h = np.arange(H_MAX + 1)
    basis_c = np.cos(2 * np.pi * f0 * h[:, None] * t[None])
    basis_s = np.sin(2 * np.pi * f0 * h[:, None] * t[None])
    triplen = (h % 3 == 0) & (h > 0)
    volt = np.empty((n, ns), np.int16)
    curr = np.empty((n, ns), np.int16)
    vscale = np.empty(n, np.float32)
    iscale = np.empty(n, np.float32)
    rows = []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        m = b - a
        rel, src[a:b] = relative_current(src[a:b], None if mix is None else mix[a:b], rng)
        mi = np.abs(rel) * i1_amps[a:b, None]
        zr = np.where(triplen[None], z0[a:b, None].real, z1[a:b, None].real)
        zx = np.where(triplen[None], z0[a:b, None].imag, z1[a:b, None].imag)
        zh = np.abs(zr + 1j * h[None] * zx)
        mv = zh * mi
        mv[:, 1] = un * rng.uniform(0.96, 1.04, m)
        bg = np.zeros((m, H_MAX + 1))
        bg[:, 5] = rng.uniform(0.005, 0.02, m) * un
        bg[:, 7] = rng.uniform(0.002, 0.01, m) * un
        bg[:, 3] = rng.uniform(0.001, 0.005, m) * un
        ph_i = np.angle(rel)
        ph_b = rng.uniform(0, 2 * np.pi, (m, H_MAX + 1))
        # complex sum of source-caused and background voltage harmonics
        cv = mv * np.exp(1j * ph_i) + np.where(h[None] > 1, bg * np.exp(1j * ph_b), 0)
        cv[:, 1] = mv[:, 1]
        ci = mi * np.exp(1j * ph_i)
        mag_v, mag_i = np.abs(cv), np.abs(ci)
        snr = rng.uniform(*snr_db, m)
        for arr, c, mag, scale in ((volt, cv, mag_v, vscale), (curr, ci, mag_i, iscale)):
            w = np.sqrt(2) * (c.real @ basis_c + c.imag @ basis_s)  # RMS -> peak
            p_sig = (mag**2).sum(axis=1)
            w += rng.normal(0, 1, w.shape) * np.sqrt(p_sig / 10 ** (snr / 10))[:, None]
            fsc = np.abs(w).max(axis=1) / 32000.0
            arr[a:b] = np.round(w / fsc[:, None]).astype(np.int16)
            scale[a:b] = fsc
        thd_v = np.sqrt((mag_v[:, 2:41] ** 2).sum(1)) / mag_v[:, 1] * 100
        thd_i = np.sqrt((mag_i[:, 2:41] ** 2).sum(1)) / mag_i[:, 1] * 100
        dom = np.argsort(-mag_i[:, 2:], axis=1)[:, :3] + 2
        for k in range(m):
            rows.append((src[a + k], thd_v[k], thd_i[k], snr[k], ",".join(str(int(o)) for o in dom[k])))
    lab = pd.DataFrame(
        rows, columns=["source_type", "true_thd_v_pct", "true_thd_i_pct", "snr_db", "dominant_orders"]
    )
    lab["fundamental_hz"] = f0
    lab["sample_rate_hz"] = fs
    lab["samples_per_cycle"] = samples_per_cycle
    lab["n_cycles"] = nc
    arrays = {
        "voltage": volt,
        "current": curr,
        "voltage_scale": vscale,
        "current_scale": iscale,
        "sample_rate_hz": np.full(n, fs, np.float32),
    }
    return arrays, lab
