//! Lists of addresses in the email settings (`accept`, `allowed_senders`, receipts' `allow`):
//! entries are a whole address (`alice@example.com`) or a domain (`@example.com`), compared
//! without regard to ASCII case, as mail systems treat domains and, in practice, local parts.

/// Lowercased entries, `local@domain` or `@domain`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressList(Vec<String>);

impl AddressList {
    /// The list of configured `entries` (validated at load: an address or `@domain`).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> AddressList {
        AddressList(
            entries
                .iter()
                .map(|e| e.as_ref().trim().to_ascii_lowercase())
                .collect(),
        )
    }

    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `address` is an entry, or its domain is (`@domain`). The null sender (`""`)
    /// and anything without a local part and a domain match nothing.
    pub fn contains(&self, address: &str) -> bool {
        let address = address.trim().to_ascii_lowercase();
        let Some((local, domain)) = address.rsplit_once('@') else {
            return false;
        };
        if local.is_empty() || domain.is_empty() {
            return false;
        }
        let domain = format!("@{domain}");
        self.0
            .iter()
            .any(|entry| *entry == address || *entry == domain)
    }
}

#[cfg(test)]
mod tests {
    use super::AddressList;

    #[test]
    fn addresses_and_domains_match_without_case() {
        let list = AddressList::new(&["Alice@Example.com", "@team.example.com"]);
        assert!(list.contains("alice@example.com"));
        assert!(list.contains("ALICE@EXAMPLE.COM"));
        assert!(list.contains("carol@Team.Example.com"));
        assert!(!list.contains("bob@example.com"));
        assert!(!list.contains("alice@example.com.evil.org"));
        assert!(!list.contains("carol@sub.team.example.com"));
        assert!(!list.contains(""));
        assert!(!list.contains("@team.example.com"));
    }
}
