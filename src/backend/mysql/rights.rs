//! What the admin account may do, read from `SHOW GRANTS`: its own grants and those of the
//! role its session has enabled (MariaDB lists both). A revoke reads them before it trusts
//! an empty list of sessions, and `jit doctor` checks each right the backend's page lists.

/// One line of `SHOW GRANTS` that jit understands: privileges on `database.table`, or a role.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Privileges {
        privileges: Vec<String>,
        database: String,
        table: String,
        grant_option: bool,
    },
    Role {
        role: String,
        admin_option: bool,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rights {
    lines: Vec<Line>,
}

impl Rights {
    /// The rights `lines` (the rows of `SHOW GRANTS`) give. Lines of other forms (proxy,
    /// routines, column lists) are left out: they give none of the rights jit needs.
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Rights {
        Rights {
            lines: lines
                .iter()
                .filter_map(|l| parse_line(l.as_ref()))
                .collect(),
        }
    }

    /// `privilege` on `database.table` (`*` for every one), with GRANT OPTION if asked.
    pub fn holds(&self, privilege: &str, database: &str, table: &str, grantable: bool) -> bool {
        self.lines.iter().any(|line| match line {
            Line::Privileges {
                privileges,
                database: on_database,
                table: on_table,
                grant_option,
            } => {
                let covers = on_database == "*"
                    || (on_database == database && (on_table == "*" || on_table == table));
                covers
                    && (!grantable || *grant_option)
                    && privileges
                        .iter()
                        .any(|p| p == privilege || p == "ALL PRIVILEGES")
            }
            Line::Role { .. } => false,
        })
    }

    fn global(&self, privilege: &str) -> bool {
        self.holds(privilege, "*", "*", false)
    }

    /// `PROCESS`: `information_schema.PROCESSLIST` shows every account's sessions, not only
    /// the admin's own.
    pub fn sees_sessions(&self) -> bool {
        self.global("PROCESS")
    }

    /// `CONNECTION ADMIN` (or `SUPER`, which includes it): `KILL CONNECTION` of another
    /// account's session.
    pub fn ends_sessions(&self) -> bool {
        self.global("CONNECTION ADMIN") || self.global("SUPER")
    }

    /// `ADMIN OPTION` on `role`: to grant and revoke it.
    pub fn administers(&self, role: &str) -> bool {
        self.lines
            .iter()
            .any(|line| matches!(line, Line::Role { role: r, admin_option: true } if r == role))
    }
}

fn parse_line(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("GRANT ")?;
    if rest.starts_with('`') {
        let (role, after) = identifier(rest)?;
        let after = after.strip_prefix(" TO ")?;
        return Some(Line::Role {
            role,
            admin_option: after.ends_with(" WITH ADMIN OPTION"),
        });
    }
    let (privileges, object) = rest.split_once(" ON ")?;
    let (database, object) = name(object)?;
    let (table, after) = name(object.strip_prefix('.')?)?;
    let after = after.strip_prefix(" TO ")?;
    Some(Line::Privileges {
        privileges: privileges
            .split(", ")
            .map(|p| p.trim().to_ascii_uppercase())
            .collect(),
        database,
        table,
        grant_option: after.contains(" WITH GRANT OPTION"),
    })
}

/// `*` or a backquoted identifier, and the text after it.
fn name(text: &str) -> Option<(String, &str)> {
    match text.strip_prefix('*') {
        Some(rest) => Some(("*".to_owned(), rest)),
        None => identifier(text),
    }
}

/// A backquoted identifier (a doubled backquote inside is one), and the text after it.
fn identifier(text: &str) -> Option<(String, &str)> {
    let mut rest = text.strip_prefix('`')?;
    let mut out = String::new();
    loop {
        let end = rest.find('`')?;
        out.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('`') {
            Some(more) => {
                out.push('`');
                rest = more;
            }
            None => return Some((out, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_grants_lines_are_read() {
        let rights = Rights::parse(&[
            "GRANT CREATE USER, CONNECTION ADMIN ON *.* TO `jit_admin`@`10.0.0.5` IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'",
            "GRANT SELECT ON `mysql`.`user` TO `jit_admin`@`10.0.0.5`",
            "GRANT SELECT, INSERT ON `app`.* TO `jit_admin`@`10.0.0.5` WITH GRANT OPTION",
            "GRANT EVENT ON `a``b`.* TO `jit_admin`@`10.0.0.5`",
            "GRANT `app_rw` TO `jit_admin`@`10.0.0.5` WITH ADMIN OPTION",
            "GRANT `reader` TO `jit_admin`@`10.0.0.5`",
            "GRANT PROCESS ON *.* TO `ops`",
            "GRANT EXECUTE ON PROCEDURE `app`.`p` TO `jit_admin`@`10.0.0.5`",
            "SET DEFAULT ROLE `ops` FOR `jit_admin`@`10.0.0.5`",
        ]);
        assert!(rights.holds("CREATE USER", "*", "*", false));
        assert!(rights.sees_sessions(), "through the current role");
        assert!(rights.ends_sessions());
        assert!(rights.holds("SELECT", "mysql", "user", false));
        assert!(!rights.holds("SELECT", "mysql", "*", false));
        assert!(rights.holds("INSERT", "app", "*", true));
        assert!(rights.holds("INSERT", "app", "accounts", true));
        assert!(!rights.holds("UPDATE", "app", "*", false));
        assert!(!rights.holds("SELECT", "*", "*", false));
        assert!(rights.holds("EVENT", "a`b", "*", false));
        assert!(!rights.holds("EVENT", "a`b", "*", true));
        assert!(rights.administers("app_rw"));
        assert!(!rights.administers("reader"));
        assert!(!rights.administers("other"));
    }

    #[test]
    fn all_privileges_and_super_count() {
        let all =
            Rights::parse(&["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]);
        assert!(all.sees_sessions() && all.ends_sessions());
        assert!(all.holds("SELECT", "app", "*", true));
        let sup = Rights::parse(&["GRANT SUPER ON *.* TO `a`@`%`"]);
        assert!(sup.ends_sessions());
        assert!(
            !sup.sees_sessions(),
            "SUPER does not show other sessions in MariaDB 10.5+"
        );
        assert_eq!(Rights::parse::<&str>(&[]), Rights::default());
    }
}
