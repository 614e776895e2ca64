//! Who a request is answered for: the tenant and project it works in, the API key it came with
//! (over HTTP) and what that key's scopes allow.
//!
//! A local server (`rae-pipeline mcp` on stdio) has one caller, its user, who may use every
//! tool. Over HTTP each request carries its key: the key's scopes decide which tools are listed
//! and callable, the same rule for both, so a tool that is not listed cannot be called either.

use rae_core::api_keys::ApiKey;
use rae_core::config::Scope;

use crate::tools;

/// The tenant, project and grants of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The tenant memories are stored for and searched in.
    pub tenant: String,
    /// The project used when a call names none.
    pub project: String,
    /// The API key's id over HTTP; `None` for the local user.
    pub key_id: Option<String>,
    scopes: Vec<Scope>,
}

/// Why a caller may not use a tool, resource or prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error(
        "tool {tool:?} is not offered: the dead-letter tools need mcp.admin_tools set to true \
         in the pipeline's configuration"
    )]
    AdminToolsOff { tool: String },
    #[error(
        "{what} is not offered to API key {key}: it needs the scope {}",
        .scope.as_str()
    )]
    Scope {
        what: String,
        key: String,
        scope: Scope,
    },
}

/// Every scope the MCP server knows of, which the local user holds.
const LOCAL_SCOPES: [Scope; 3] = [Scope::MemoriesWrite, Scope::MemoriesRead, Scope::DlqAdmin];

impl Caller {
    /// The user of a local server, who may use every tool the configuration offers.
    pub fn local(tenant: String, project: String) -> Caller {
        Caller {
            tenant,
            project,
            key_id: None,
            scopes: LOCAL_SCOPES.to_vec(),
        }
    }

    /// The holder of `key`, working in `tenant` (which the key may use) and `project`.
    pub fn with_key(key: &ApiKey, tenant: String, project: String) -> Caller {
        Caller {
            tenant,
            project,
            key_id: Some(key.id.clone()),
            scopes: key.scopes().to_vec(),
        }
    }

    /// Checks that the caller may call `tool`; `admin_tools` is `mcp.admin_tools`. Names that
    /// are no tool pass: the call answers that the tool is unknown.
    ///
    /// # Errors
    /// [`Denied`] naming the setting or the scope missing.
    pub fn may_call(&self, tool: &str, admin_tools: bool) -> Result<(), Denied> {
        if tools::ADMIN_NAMES.contains(&tool) && !admin_tools {
            return Err(Denied::AdminToolsOff {
                tool: tool.to_owned(),
            });
        }
        for scope in required_scopes(tool) {
            self.require(&format!("tool {tool:?}"), *scope)?;
        }
        Ok(())
    }

    /// Checks that the caller may read resources and get prompts (memories:read).
    ///
    /// # Errors
    /// [`Denied::Scope`] naming `what` was asked.
    pub fn may_read(&self, what: &str) -> Result<(), Denied> {
        self.require(what, Scope::MemoriesRead)
    }

    fn require(&self, what: &str, scope: Scope) -> Result<(), Denied> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Denied::Scope {
                what: what.to_owned(),
                key: self.key_id.clone().unwrap_or_default(),
                scope,
            })
        }
    }
}

/// The scopes a key needs for `tool`: storing needs memories:write, searching memories:read,
/// a reflection both (RAE reads the memories and stores its insights), the dead-letter tools
/// dlq:admin; `pipeline_status` (whether memories flow, no memory content) any key.
pub fn required_scopes(tool: &str) -> &'static [Scope] {
    match tool {
        tools::STORE_MEMORY | tools::SAVE_MEMORY => &[Scope::MemoriesWrite],
        tools::GENERATE_REFLECTION => &[Scope::MemoriesRead, Scope::MemoriesWrite],
        tools::QUERY_MEMORIES
        | tools::QUERY_GRAPH
        | tools::SEARCH_MEMORY
        | tools::GET_RELATED_CONTEXT => &[Scope::MemoriesRead],
        tools::DLQ_LIST | tools::DLQ_REPLAY => &[Scope::DlqAdmin],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(scopes: &[Scope]) -> Caller {
        Caller {
            tenant: "acme".into(),
            project: "web".into(),
            key_id: Some("k".into()),
            scopes: scopes.to_vec(),
        }
    }

    #[test]
    fn every_tool_has_its_scopes_and_the_local_user_holds_them_all() {
        let local = Caller::local("t".into(), "p".into());
        for tool in tools::NAMES.iter().chain(&tools::ADMIN_NAMES) {
            local.may_call(tool, true).unwrap();
        }
        local.may_read("resources").unwrap();
        let writer = keyed(&[Scope::MemoriesWrite]);
        writer.may_call(tools::STORE_MEMORY, false).unwrap();
        writer.may_call(tools::PIPELINE_STATUS, false).unwrap();
        assert_eq!(
            writer
                .may_call(tools::SEARCH_MEMORY, false)
                .unwrap_err()
                .to_string(),
            "tool \"search_memory\" is not offered to API key k: it needs the scope memories:read"
        );
        assert!(writer.may_call(tools::GENERATE_REFLECTION, false).is_err());
        assert!(writer.may_read("resource rae://project/recent").is_err());
        let reader = keyed(&[Scope::MemoriesRead]);
        assert!(reader.may_call(tools::SAVE_MEMORY, false).is_err());
        reader.may_call(tools::GET_RELATED_CONTEXT, false).unwrap();
        let admin = keyed(&[Scope::DlqAdmin]);
        assert!(matches!(
            admin.may_call(tools::DLQ_LIST, false),
            Err(Denied::AdminToolsOff { .. })
        ));
        admin.may_call(tools::DLQ_REPLAY, true).unwrap();
        assert!(reader.may_call(tools::DLQ_REPLAY, true).is_err());
    }
}
