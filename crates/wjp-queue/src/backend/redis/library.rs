//! The wjp function library: one Lua function per operation (`lua/`),
//! named after a hash of the library's code, loaded with `FUNCTION LOAD`
//! when a backend connects and again when the server lost it, and called
//! with `FCALL` through [`Call`].

use redis::{Cmd, Script};

use super::connection::is_library_present;
use super::keys::{index_keys, job_key, key_prefix, QUEUE_KEYS};
use super::record::lua_prelude;
use super::{RedisBackend, EVENTS_KEPT};
use crate::error::Result;

/// The shared part of the library, before every operation's function
/// (after the prelude that `record.rs` generates).
const COMMON: &str = include_str!("lua/common.lua");

/// One operation of the wjp function library: its name on the server.
pub(super) struct Function(String);

/// Declares `Functions`, the wjp function library (see `lua/common.lua`):
/// one function per operation, its body in `lua/<operation>.lua`.
macro_rules! function_library {
    ($($op:ident),* $(,)?) => {
        /// The library's functions, by operation, and its code.
        pub(super) struct Functions {
            $(
                #[doc = concat!("`lua/", stringify!($op), ".lua`.")]
                pub(super) $op: Function,
            )*
            /// The library's code, for `FUNCTION LOAD`.
            library: String,
        }

        impl Functions {
            /// The library, assembled from its files.
            pub(super) fn new() -> Self {
                let bodies = [$((stringify!($op), include_str!(concat!("lua/", stringify!($op), ".lua")))),*];
                let (name, library) = library_code(&bodies);
                Functions {
                    $($op: Function(format!("{name}_{}", stringify!($op))),)*
                    library,
                }
            }
        }
    };
}

function_library!(
    insert, admit, apply, finish, claim, peek, renew, progress, cancel, forget, sweep, purge, list,
    read, pause, limits, link, settle, exists,
);

/// Operations that only read: flagged so that a server out of memory (or
/// a replica) still runs them; a function without flags is refused there
/// before it runs.
const READS: [&str; 5] = ["admit", "peek", "list", "read", "exists"];

/// The library's name and code, from each operation's name and body. The
/// name is made from the code: processes of different versions sharing a
/// server (a rolling upgrade) each call their own functions.
fn library_code(bodies: &[(&str, &str)]) -> (String, String) {
    let code = |prefix: &str| {
        let mut code = lua_prelude();
        code.push_str(COMMON);
        for (op, body) in bodies {
            let flags = if READS.contains(op) {
                "{'no-writes'}"
            } else {
                "{}"
            };
            code.push_str(&format!(
                "\nredis.register_function{{function_name = '{prefix}{op}', \
                 flags = {flags}, callback = function(keys, args)\n\
                 begin(keys, args)\n{body}\nend}}\n"
            ));
        }
        code
    };
    let name = format!("wjp_{}", &Script::new(&code("")).get_hash()[..16]);
    let library = format!("#!lua name={name}\n{}", code(&format!("{name}_")));
    (name, library)
}

impl RedisBackend {
    /// Loads the function library unless the server has it. Its name
    /// is made from its code, so a library of that name is this code: no
    /// `REPLACE`, which would compile it again on every connect.
    pub(super) async fn load_library(&self) -> Result<()> {
        // On a cluster, the command goes to every primary; one that has
        // the library answers that it exists, the others load it.
        let mut pipe = redis::pipe();
        pipe.cmd("FUNCTION")
            .arg("LOAD")
            .arg(&self.shared.functions.library);
        let loaded = self.shared.link.pipeline(&pipe).await;
        match loaded {
            Err(e) if !is_library_present(&e) => Err(self.storage_err(e)),
            _ => Ok(()),
        }
    }
}

/// Builds one `FCALL` of a queue function: the index keys, the given job
/// keys, the common arguments, then the script's own.
pub(super) struct Call {
    /// The command as built so far.
    pub(super) cmd: Cmd,
}

impl Call {
    /// A call of `function` on `queue`'s keys and the keys of `job_ids`.
    pub(super) fn new(function: &Function, queue: &str, job_ids: &[&str]) -> Call {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&function.0).arg(QUEUE_KEYS + job_ids.len());
        for key in index_keys(queue) {
            cmd.arg(key);
        }
        for id in job_ids {
            cmd.arg(job_key(queue, id));
        }
        cmd.arg(format!("{}job:", key_prefix(queue)))
            .arg(EVENTS_KEPT);
        Call { cmd }
    }

    /// Appends one argument.
    pub(super) fn arg<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many locals the top level of `code` declares: the names of
    /// `local` statements and `local function`s that start a line (nested
    /// code is indented).
    fn top_level_locals(code: &str) -> usize {
        code.lines()
            .filter_map(|line| line.strip_prefix("local "))
            .map(|decl| match decl.strip_prefix("function ") {
                Some(_) => 1,
                None => decl.split('=').next().map_or(0, |names| {
                    names.split(',').filter(|n| !n.trim().is_empty()).count()
                }),
            })
            .sum()
    }

    /// Lua refuses a chunk whose top level holds more than 200 locals, and
    /// `FUNCTION LOAD` with it every server: the prelude and `common.lua`
    /// are that top level. Fails here, with the count, before any server.
    #[test]
    fn the_library_stays_within_luas_200_locals() {
        let mut code = lua_prelude();
        code.push_str(COMMON);
        let n = top_level_locals(&code);
        assert!(n > 150, "the count found the declarations: {n}");
        assert!(
            n <= 200,
            "{n} locals at the library's top level; Lua allows 200"
        );
        assert_eq!(
            top_level_locals("local a, b = 1\n  local c\nlocal function f()\n"),
            3
        );
    }
}
