use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{
    HiddenCause, Hide, ModerationCommand, ModerationError, ModerationEvent, Report, ReportReason,
    Restore, NOTE,
};
use crate::author::{AuthorKey, AuthorRef};

/// Distinct reporters that hide an item automatically, unless configured otherwise.
pub const DEFAULT_AUTO_HIDE_THRESHOLD: u32 = 5;

/// What a moderation command handler may use besides the aggregate's own state.
#[derive(Debug, Clone)]
pub struct ModerationServices {
    /// Derives reporter references.
    pub author_key: AuthorKey,
    /// How many distinct reporters hide an item automatically; 0 turns automatic hiding off.
    pub auto_hide_threshold: u32,
}

impl ModerationServices {
    /// Services with the default threshold ([`DEFAULT_AUTO_HIDE_THRESHOLD`]).
    pub fn new(author_key: AuthorKey) -> Self {
        Self {
            author_key,
            auto_hide_threshold: DEFAULT_AUTO_HIDE_THRESHOLD,
        }
    }
}

/// One item's reports and visibility, as far as the rules need to know them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Moderation {
    /// Everyone who reported the item, by per-item reference.
    reporters: BTreeSet<AuthorRef>,
    /// How many of them count towards automatic hiding.
    #[serde(default)]
    counting: u32,
    /// How many counting reports gave each reason.
    reasons: BTreeMap<ReportReason, u32>,
    hidden: bool,
    /// Whether reports may no longer hide the item: they did once already, or a moderator
    /// restored it. A moderator's decision stands against later reports.
    auto_hide_spent: bool,
}

impl Aggregate for Moderation {
    const TYPE: &'static str = "moderation";
    type Command = ModerationCommand;
    type Event = ModerationEvent;
    type Error = ModerationError;
    type Services = ModerationServices;

    async fn handle(
        &mut self,
        command: ModerationCommand,
        services: &ModerationServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ModerationError> {
        match command {
            ModerationCommand::Report(report) => {
                let filed = self.report(&report, &services.author_key)?;
                sink.write(filed, self).await;
                if let Some(hidden) = self.auto_hide(services.auto_hide_threshold) {
                    sink.write(hidden, self).await;
                }
            }
            ModerationCommand::Hide(hide) => {
                let event = self.hide(&hide)?;
                sink.write(event, self).await;
            }
            ModerationCommand::Restore(restore) => {
                let event = self.restore(&restore)?;
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ModerationEvent) {
        match event {
            ModerationEvent::ReportFiled {
                reason,
                reporter_ref,
                counts,
                ..
            } => {
                if self.reporters.insert(reporter_ref) && counts {
                    self.counting = self.counting.saturating_add(1);
                    let count = self.reasons.entry(reason).or_default();
                    *count = count.saturating_add(1);
                }
            }
            ModerationEvent::TargetHidden { cause, .. } => {
                self.hidden = true;
                if cause == HiddenCause::Automatic {
                    self.auto_hide_spent = true;
                }
            }
            ModerationEvent::TargetRestored { .. } => {
                self.hidden = false;
                self.auto_hide_spent = true;
            }
        }
    }
}

/// A note trimmed and checked; a blank note counts as none.
fn note(note: Option<&str>) -> Result<Option<String>, ModerationError> {
    match note.map(str::trim) {
        None | Some("") => Ok(None),
        Some(note) => Ok(Some(NOTE.check(note)?)),
    }
}

impl Moderation {
    fn report(
        &self,
        command: &Report,
        key: &AuthorKey,
    ) -> Result<ModerationEvent, ModerationError> {
        let reporter_ref = key.author_ref("report", command.target_id, command.reporter);
        if self.reporters.contains(&reporter_ref) {
            return Err(ModerationError::AlreadyReported);
        }
        // Checked so that nothing unchecked reaches moderators, but kept out of the event.
        note(command.note.as_deref())?;
        Ok(ModerationEvent::ReportFiled {
            kind: command.kind,
            target_id: command.target_id,
            reason: command.reason,
            reporter_ref,
            counts: command.counts,
        })
    }

    /// The automatic hide due now, if any: when distinct counting reporters reach the
    /// threshold while the item is visible, reports have not hidden it before and no
    /// moderator restored it.
    fn auto_hide(&self, threshold: u32) -> Option<ModerationEvent> {
        let reached = threshold > 0 && self.counting >= threshold;
        (reached && !self.hidden && !self.auto_hide_spent).then(|| ModerationEvent::TargetHidden {
            cause: HiddenCause::Automatic,
            reason: self.most_common_reason(),
            note: None,
        })
    }

    /// The reason counting reporters gave most often; on a tie, the more serious one (the
    /// earlier in [`ReportReason::ALL`]).
    fn most_common_reason(&self) -> ReportReason {
        // `max_by_key` keeps the last of equal maxima; reversed, that is the earliest in `ALL`.
        ReportReason::ALL
            .into_iter()
            .rev()
            .max_by_key(|reason| self.reasons.get(reason).copied().unwrap_or(0))
            .unwrap_or(ReportReason::Other)
    }

    fn hide(&self, command: &Hide) -> Result<ModerationEvent, ModerationError> {
        if self.hidden {
            return Err(ModerationError::AlreadyHidden);
        }
        Ok(ModerationEvent::TargetHidden {
            cause: HiddenCause::Moderator,
            reason: command.reason,
            note: note(command.note.as_deref())?,
        })
    }

    fn restore(&self, command: &Restore) -> Result<ModerationEvent, ModerationError> {
        if !self.hidden {
            return Err(ModerationError::NotHidden);
        }
        Ok(ModerationEvent::TargetRestored {
            note: note(command.note.as_deref())?,
        })
    }
}
