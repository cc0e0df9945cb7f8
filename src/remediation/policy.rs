//! Who may decide on a proposal.

use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Policy {
    approvers: BTreeSet<String>,
    pub proposal_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("you are not an approver for this connector; ask one of: {0}")]
    NotApprover(String),
}

impl Policy {
    pub fn new(approvers: impl IntoIterator<Item = String>, proposal_ttl: Duration) -> Self {
        Self {
            approvers: approvers.into_iter().collect(),
            proposal_ttl,
        }
    }

    /// Approvers are matched by Slack user ID only: display names can be changed by anyone.
    pub fn may_decide(&self, user_id: &str) -> Result<(), Denial> {
        if self.approvers.contains(user_id) {
            Ok(())
        } else {
            Err(Denial::NotApprover(
                self.approvers
                    .iter()
                    .map(|u| format!("<@{u}>"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_ids_may_decide() {
        let p = Policy::new(["U0APPROVER".to_string()], Duration::from_secs(60));
        assert!(p.may_decide("U0APPROVER").is_ok());
        let err = p.may_decide("U0INTRUDER").unwrap_err().to_string();
        assert!(err.contains("<@U0APPROVER>"));
        assert!(p.may_decide("u0approver").is_err());
    }
}
