"""Named, documented scenario configurations.

A scenario sets the *drivers* (load level, weather, PV/EV adoption, event rates, frequency
dynamics); every reading and label then follows from the physics. Datasets mix scenarios in
blocks of ``BLOCK_HOURS`` hours (see ``gridsim.dataset``); the live feed runs one scenario.

Rates are per day (events/day on the whole feeder) unless stated. ``harmonic_mix`` weights
the harmonic source types drawn for waveform windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

BLOCK_HOURS = 6


@dataclass(frozen=True)
class Scenario:
    """Drivers of one scenario (all dimensionless multipliers unless a unit is given)."""

    name: str
    description: str
    load_scale: float = 1.0  # multiplies the BDEW standard-load-profile energy
    ambient_offset_c: float = 0.0  # °C added to the seasonal ambient series
    ac_kw_per_k: float = 0.25  # air-conditioning draw per K above 24 °C (customers with AC)
    ac_extra_adoption: float = 0.0  # fraction of customers without AC who run one (portable)
    pv_scale: float = 1.0  # multiplies installed kWp
    pv_extra_adoption: float = 0.0  # fraction of non-PV customers given PV
    pv_phase_bias: float = 0.0  # 0..1: extra PV concentrated on one phase (unbalanced PV)
    # clear-sky-index regime probabilities: clear, mixed, overcast, broken (fast clouds)
    cloud_regimes: tuple[float, float, float, float] = (0.35, 0.35, 0.2, 0.1)
    ev_extra_adoption: float = 0.0  # fraction of customers given an EV
    ev_evening_sync: float = 0.0  # 0..1 share of EVs arriving 17:30-19:00 (uncontrolled)
    ev_power_kw: float = 7.4  # single-phase charger (32 A at 230 V)
    # RMS-event rates (events/day on the feeder), by cause
    fault_rate: float = 0.2
    motor_start_rate: float = 2.0
    energising_rate: float = 0.3
    reclose_rate: float = 0.05
    fuse_blow_prob: float = 0.5  # a feeder fault blows the head fuse -> sustained outage
    tap_step_rate: float = 1.0  # MV on-load tap changes (voltage steps inside ±10 %)
    oscillation_rate: float = 0.5  # hunting/cycling loads (voltage oscillation)
    concentrated_load_rate: float = 0.5  # large single-phase load switched on for hours
    open_phase_rate: float = 0.02  # single-phase fuse blown at a feeder head
    sensor_fault_rate: float = 0.02  # per meter-day
    # frequency dynamics
    freq_noise_mhz: float = 8.0  # random-walk drive (std of 1-min imbalance, in mHz equiv.)
    freq_stiffness: float = 1.0  # scales primary-control gain (1/R)
    trip_rate: float = 0.5  # generator trips per day
    trip_size_pu: tuple[float, float] = (0.005, 0.03)  # lost generation, pu of system load
    harmonic_mix: dict[str, float] = field(
        default_factory=lambda: {
            "background": 1.0,
            "six_pulse_drive": 1.0,
            "smps_led": 1.0,
            "pv_inverter": 1.0,
        }
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("normal", "Typical day: BDEW load, mixed weather, few events."),
        Scenario(
            "peak_load",
            "Cold-snap winter peak: electric heating raises demand 60 %, little PV.",
            load_scale=1.6,
            ambient_offset_c=-12.0,
            pv_scale=0.4,
            cloud_regimes=(0.1, 0.3, 0.6, 0.0),
            motor_start_rate=4.0,
        ),
        Scenario(
            "voltage_sag",
            "Industrial activity and MV disturbances: many motor starts, faults and transformer energising.",
            fault_rate=2.0,
            motor_start_rate=15.0,
            energising_rate=4.0,
            reclose_rate=0.5,
        ),
        Scenario(
            "overcurrent",
            "Heavy loading: high demand plus EV clusters push feeder heads past their ratings.",
            load_scale=1.8,
            ev_extra_adoption=0.8,
            ev_evening_sync=0.9,
            concentrated_load_rate=4.0,
        ),
        Scenario(
            "frequency_drift",
            "Weak primary control and large random imbalance: frequency wanders and trips are frequent.",
            freq_noise_mhz=25.0,
            freq_stiffness=0.35,
            trip_rate=4.0,
            trip_size_pu=(0.01, 0.05),
        ),
        Scenario(
            "renewable_intermittency",
            "Fast broken clouds over high PV: rapid power and voltage swings.",
            pv_scale=1.6,
            pv_extra_adoption=0.3,
            cloud_regimes=(0.0, 0.1, 0.0, 0.9),
        ),
        Scenario(
            "fault",
            "Cable faults, blown fuses (sustained interruptions), open phases.",
            fault_rate=6.0,
            fuse_blow_prob=0.6,
            open_phase_rate=1.0,
            reclose_rate=1.0,
        ),
        Scenario("custom", "Normal drivers; override any field with scenarios.custom(**kw)."),
        Scenario(
            "heat_wave",
            "Heat wave: +14 °C ambient, air conditioning in most homes, transformer overloaded and hot.",
            ambient_offset_c=14.0,
            ac_kw_per_k=0.6,
            ac_extra_adoption=0.7,
            load_scale=1.15,
            cloud_regimes=(0.8, 0.2, 0.0, 0.0),
        ),
        Scenario(
            "high_pv",
            "Sunny day with doubled PV, concentrated on one phase: reverse "
            "flow, midday overvoltage, unbalance.",
            pv_scale=2.0,
            pv_extra_adoption=0.45,
            pv_phase_bias=0.7,
            cloud_regimes=(0.9, 0.1, 0.0, 0.0),
            load_scale=0.85,
        ),
        Scenario(
            "ev_evening_peak",
            "Uncontrolled EV charging at 17:30-19:00 on top of the evening peak.",
            ev_extra_adoption=0.6,
            ev_evening_sync=0.95,
        ),
    ]
}


def get(name: str) -> Scenario:
    """Scenario by name (KeyError lists the valid names)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}") from None


def custom(**overrides) -> Scenario:
    """The ``custom`` scenario with any fields overridden, e.g. ``custom(pv_scale=3)``."""
    return replace(SCENARIOS["custom"], **overrides)
