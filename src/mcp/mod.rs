//! `jit mcp`: the Model Context Protocol over stdio, a front end for agents over the same
//! lease service as the other commands (docs/mcp.md).
//!
//! Two sides. The protocol side is rmcp on a current-thread tokio runtime built here (the
//! rest of jit stays synchronous): it reads and writes the messages on stdin and stdout,
//! which are the transport and carry nothing else. The jit side is one thread
//! ([`session::serve`]) that owns the context and the lease service and takes the tool
//! calls one at a time over a channel. When stdin closes or a termination signal comes,
//! the jit side ends every lease the session created.

mod run;
mod session;
mod tools;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use anyhow::Result;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use session::{Job, Progress, Reply};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the agent is told at `initialize`.
const INSTRUCTIONS: &str = "jit grants time-boxed access to privileged roles. Call list_roles \
to see what you may request, then request_access with the role, a reason and the task. A \
request that needs approval is pending until a person approves it with `jit approve ID` (tell \
the user so, then call wait_for_approval); you cannot approve anything. Use run_with_access to \
run one of the role's declared commands with the access: credentials never appear in tool \
results, they reach only that command's environment. Call drop_access when the task is done; \
every lease of this session also ends when the session ends.";

/// Serve MCP on stdio until the client goes or a termination signal comes; then end the
/// session's leases. Exit 0, or 6 when a lease could not be revoked.
pub fn serve(mut global: GlobalArgs) -> Result<Exit> {
    // stdout is the transport: nothing else may be written there.
    global.json = false;
    let ending = Arc::new(AtomicBool::new(false));
    let (jobs, jobs_rx) = std::sync::mpsc::channel::<Job>();
    let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
    let jit = std::thread::Builder::new()
        .name("jit-session".into())
        .spawn({
            let ending = Arc::clone(&ending);
            move || session::serve(global, jobs_rx, ready_tx, &ending)
        })?;
    match ready.recv() {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            let _ = jit.join();
            return Err(err);
        }
        Err(_) => return Err(anyhow::anyhow!("the MCP session could not start")),
    }

    // The first of SIGINT, SIGTERM or SIGHUP ends the session.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let signals_handle = signals.handle();
    let (signalled, mut on_signal) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = signalled.send(());
        }
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handler = Handler {
        jobs: jobs.clone(),
        ending: Arc::clone(&ending),
    };
    // The client gone, the session ends at once: the answer to a call under way has
    // nobody to read it.
    let closed = Arc::new(tokio::sync::Notify::new());
    let stdin = Stdin {
        inner: tokio::io::stdin(),
        ending: Arc::clone(&ending),
        closed: Arc::clone(&closed),
    };
    let served: Result<(), String> = runtime.block_on(async {
        let service = tokio::select! {
            service = handler.serve((stdin, tokio::io::stdout())) => {
                service.map_err(|err| format!("the MCP session did not start: {err}"))?
            }
            _ = &mut on_signal => return Ok(()),
            () = closed.notified() => return Ok(()),
        };
        tokio::select! {
            quit = service.waiting() => quit.map(|_| ()).map_err(|err| err.to_string()),
            _ = &mut on_signal => Ok(()),
            () = closed.notified() => Ok(()),
        }
    });
    // From here on no call is taken, and one under way stops at its next step.
    ending.store(true, Ordering::SeqCst);
    signals_handle.close();
    let _ = watcher.join();
    // The reader of stdin may be blocked in a read that never returns: not waited for.
    runtime.shutdown_background();
    let _ = jobs.send(Job::End);
    let exit = jit
        .join()
        .map_err(|_| anyhow::anyhow!("the MCP session's thread failed"))?;
    if let Err(err) = served {
        crate::output::Printer::new(false, false, false).warn(&err);
    }
    Ok(exit)
}

/// stdin, the transport's way in: at its end the session is ending (so that a call under
/// way stops at its next step, rather than hold the end up).
struct Stdin {
    inner: tokio::io::Stdin,
    ending: Arc<AtomicBool>,
    closed: Arc<tokio::sync::Notify>,
}

impl tokio::io::AsyncRead for Stdin {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(&polled, std::task::Poll::Ready(Ok(())) if buf.filled().len() == before)
            || matches!(&polled, std::task::Poll::Ready(Err(_)))
        {
            self.ending.store(true, Ordering::SeqCst);
            self.closed.notify_one();
        }
        polled
    }
}

/// The protocol side: answers `initialize` and `tools/list` itself and hands each tool
/// call to the jit side.
struct Handler {
    jobs: std::sync::mpsc::Sender<Job>,
    ending: Arc<AtomicBool>,
}

/// The tools, as `tools/list` shows them.
fn tool_list() -> Vec<Tool> {
    tools::definitions()
        .into_iter()
        .map(|d| {
            Tool::new(d.name, d.description, object(d.input))
                .with_title(d.title)
                .with_raw_output_schema(object(d.output))
        })
        .collect()
}

fn object(value: serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

/// A reply as the tool result: the JSON as text and as structured content.
fn tool_result(reply: Reply) -> CallToolResult {
    if reply.is_error {
        CallToolResult::structured_error(reply.value)
    } else {
        CallToolResult::structured(reply.value)
    }
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("jit", env!("CARGO_PKG_VERSION")).with_title(tools::TITLE),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tool_list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = tools::parse(&request.name, request.arguments.as_ref())
            .map_err(|refused| ErrorData::invalid_params(refused.0, None))?;
        if self.ending.load(Ordering::SeqCst) {
            return Err(ErrorData::internal_error("the MCP session is ending", None));
        }
        let client = context.peer.peer_info().map_or_else(
            || tools::client_label(None, None),
            |info| {
                tools::client_label(
                    Some(&info.client_info.name),
                    Some(&info.client_info.version),
                )
            },
        );
        let token = context.meta.get_progress_token();
        let (progress, mut progress_rx) = match token {
            Some(_) => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let cancelled = Arc::new(AtomicBool::new(false));
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Call {
                call,
                client,
                cancelled: Arc::clone(&cancelled),
                progress,
                reply: reply_tx,
            })
            .map_err(|_| ErrorData::internal_error("the MCP session has ended", None))?;
        // The client may cancel the call: the jit side stops at its next step.
        let watch = {
            let ct = context.ct.clone();
            let cancelled = Arc::clone(&cancelled);
            tokio::spawn(async move {
                ct.cancelled().await;
                cancelled.store(true, Ordering::SeqCst);
            })
        };
        // Progress comes until the call is answered (the sender goes with the call).
        if let (Some(token), Some(rx)) = (token, progress_rx.as_mut()) {
            while let Some(note) = rx.recv().await {
                let param = ProgressNotificationParam::new(token.clone(), note.progress)
                    .with_total(note.total)
                    .with_message(note.message);
                let _ = context.peer.notify_progress(param).await;
            }
        }
        let reply = reply_rx.await;
        watch.abort();
        let reply = reply.map_err(|_| ErrorData::internal_error("the MCP session ended", None))?;
        Ok(tool_result(reply).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The text content a tool result carries.
    fn text_of(result: &CallToolResult) -> Option<String> {
        result
            .content
            .first()
            .and_then(|c| c.as_text().map(|t| t.text.clone()))
    }

    #[test]
    fn the_server_says_who_it_is_and_offers_tools_only() {
        let info = serde_json::to_value(
            Handler {
                jobs: std::sync::mpsc::channel().0,
                ending: Arc::default(),
            }
            .get_info(),
        )
        .unwrap();
        assert_eq!(
            info["serverInfo"],
            json!({"name": "jit", "title": "jit (tools v1)", "version": env!("CARGO_PKG_VERSION")})
        );
        let capabilities = info["capabilities"].as_object().unwrap();
        assert_eq!(
            capabilities.keys().collect::<Vec<_>>(),
            ["tools"],
            "{capabilities:?}"
        );
        let instructions = info["instructions"].as_str().unwrap();
        assert!(instructions.contains("jit approve ID"));
        assert!(instructions.contains("credentials never appear in tool results"));
    }

    #[test]
    fn the_tool_list_carries_the_hand_written_schemas() {
        let listed = serde_json::to_value(tool_list()).unwrap();
        let definitions = tools::definitions();
        assert_eq!(listed.as_array().unwrap().len(), definitions.len());
        for (tool, d) in listed.as_array().unwrap().iter().zip(&definitions) {
            assert_eq!(tool["name"], d.name);
            assert_eq!(tool["title"], d.title);
            assert_eq!(tool["inputSchema"], d.input);
            assert_eq!(tool["outputSchema"], d.output);
        }
    }

    #[test]
    fn a_jit_error_is_an_error_result_with_its_exit_code_as_text_and_structured() {
        let err = crate::exit::usage("lease L1 was not requested in this MCP session");
        let result = serde_json::to_value(tool_result(Reply::from_error(&err))).unwrap();
        let expected = json!({"error": {"exit_code": 2, "kind": "usage",
            "message": "lease L1 was not requested in this MCP session"}});
        assert_eq!(result["isError"], true);
        assert_eq!(result["structuredContent"], expected);
        let text: serde_json::Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, expected);
        // An error without an exit code of its own is a runtime error, with its causes.
        let err = anyhow::anyhow!("connection refused").context("granting lease L2");
        assert_eq!(
            Reply::from_error(&err).value,
            json!({"error": {"exit_code": 1, "kind": "runtime",
                "message": "granting lease L2: connection refused"}})
        );
    }

    #[test]
    fn a_result_is_its_json_as_text_and_structured() {
        let value = json!({"leases": []});
        let result = tool_result(Reply {
            value: value.clone(),
            is_error: false,
        });
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.structured_content, Some(value.clone()));
        assert_eq!(text_of(&result), Some(value.to_string()));
    }
}
