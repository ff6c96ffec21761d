//! What a run of the generator is meant to show.

use std::fmt;
use std::str::FromStr;

/// A traffic pattern. Every scenario is the healthy fleet with at most a few
/// anomalies switched on, so each one shows exactly the findings it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Balanced groups with equal selection rates, busy GPUs (55–95 %
    /// utilisation), faithful explanations, no personal data.
    Healthy,
    /// The `under-25` group's positive-prediction rate falls from 0.55 to
    /// 0.25: a demographic parity ratio of about 0.45, under the bias
    /// plugin's default `minDemographicParityRatio` of 0.8.
    FairnessDrift,
    /// GPUs at 0–4 % utilisation while holding their memory, on light
    /// traffic: under the cost plugin's default idle threshold of 10 % with
    /// far more than its default 10 samples.
    IdleGpu,
    /// Message content is recorded and a fraction of the prompts
    /// (`Options::pii_fraction`) carry synthetic e-mail addresses, phone
    /// numbers, card numbers, IBANs and US SSNs.
    PiiLeak,
    /// Explanation fidelity falls to a mean of about 0.69, under the explainer
    /// plugin's default `minFidelity` of 0.8.
    ExplainabilityDrift,
    /// Every anomaly above, each on its own service (round robin over the
    /// services, so with fewer services than anomalies one service carries
    /// several). Services beyond the fourth stay healthy.
    Mixed,
}

impl Scenario {
    /// Every scenario, in the order `--help` lists them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Healthy,
        Scenario::FairnessDrift,
        Scenario::IdleGpu,
        Scenario::PiiLeak,
        Scenario::ExplainabilityDrift,
        Scenario::Mixed,
    ];

    /// The name used on the command line, for example `fairness-drift`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::FairnessDrift => "fairness-drift",
            Scenario::IdleGpu => "idle-gpu",
            Scenario::PiiLeak => "pii-leak",
            Scenario::ExplainabilityDrift => "explainability-drift",
            Scenario::Mixed => "mixed",
        }
    }

    /// The finding codes gavel's bundled plugins should raise on this
    /// scenario's windows with their default settings (for tests that drive
    /// the daemon with generated traffic). `healthy` raises none.
    pub fn expected_findings(self) -> &'static [&'static str] {
        match self {
            Scenario::Healthy => &[],
            Scenario::FairnessDrift => &["bias.demographic-parity-ratio-low"],
            Scenario::IdleGpu => &["cost.gpu-idle"],
            Scenario::PiiLeak => &["privacy.pii-in-trace"],
            Scenario::ExplainabilityDrift => &["explainer.explainability-drift"],
            Scenario::Mixed => &[
                "bias.demographic-parity-ratio-low",
                "cost.gpu-idle",
                "privacy.pii-in-trace",
                "explainer.explainability-drift",
            ],
        }
    }

    /// The anomalies of service `index` of `services`.
    pub(crate) fn anomalies(self, index: usize, services: usize) -> Anomalies {
        let all = |on: bool| Anomalies {
            fairness_drift: on && self == Scenario::FairnessDrift,
            idle_gpu: on && self == Scenario::IdleGpu,
            pii: on && self == Scenario::PiiLeak,
            fidelity_drift: on && self == Scenario::ExplainabilityDrift,
        };
        match self {
            Scenario::Mixed => {
                // Anomaly k goes to service k % services.
                let mine = |k: usize| k % services == index;
                Anomalies {
                    fairness_drift: mine(0),
                    idle_gpu: mine(1),
                    pii: mine(2),
                    fidelity_drift: mine(3),
                }
            }
            _ => all(true),
        }
    }

    /// Whether message content is recorded when `Options::content` leaves it
    /// to the scenario.
    pub(crate) fn records_content(self) -> bool {
        matches!(self, Scenario::PiiLeak | Scenario::Mixed)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario name that is not one of [`Scenario::ALL`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown scenario `{0}`: use one of healthy, fairness-drift, idle-gpu, pii-leak, explainability-drift, mixed"
)]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

/// Which anomalies one service shows (after `Options::onset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Anomalies {
    pub(crate) fairness_drift: bool,
    pub(crate) idle_gpu: bool,
    pub(crate) pii: bool,
    pub(crate) fidelity_drift: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("fairness".parse::<Scenario>().is_err());
    }

    #[test]
    fn mixed_places_every_anomaly() {
        for services in 1..6 {
            let a: Vec<_> = (0..services)
                .map(|i| Scenario::Mixed.anomalies(i, services))
                .collect();
            assert_eq!(a.iter().filter(|a| a.fairness_drift).count(), 1);
            assert_eq!(a.iter().filter(|a| a.idle_gpu).count(), 1);
            assert_eq!(a.iter().filter(|a| a.pii).count(), 1);
            assert_eq!(a.iter().filter(|a| a.fidelity_drift).count(), 1);
        }
    }
}
