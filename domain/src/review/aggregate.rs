use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    DeleteReview, DeletedBy, EditReview, EventText, MarkHelpful, Ratings, ReviewCommand,
    ReviewError, ReviewEvent, ReviewLabel, WriteReview, ADVICE, CONS, PROS, TITLE,
};
use crate::author::{AuthorKey, AuthorRef};
use crate::member::MemberId;
use crate::sealed::ContentKey;

/// What a review command handler may use besides the aggregate's own state.
#[derive(Debug, Clone)]
pub struct ReviewServices {
    /// Derives the review id, author and voter references.
    pub author_key: AuthorKey,
}

/// One member's review of one hospital, as far as its rules need to know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Review {
    /// Set by `ReviewWritten`.
    author_ref: Option<AuthorRef>,
    /// The hospital reviewed; set by `ReviewWritten`.
    #[serde(default)]
    hospital_id: Option<Uuid>,
    deleted: bool,
    /// Who marked the current review helpful; a new review after a deletion starts empty.
    helpful: BTreeSet<AuthorRef>,
}

impl Aggregate for Review {
    const TYPE: &'static str = "review";
    type Command = ReviewCommand;
    type Event = ReviewEvent;
    type Error = ReviewError;
    type Services = ReviewServices;

    async fn handle(
        &mut self,
        command: ReviewCommand,
        services: &ReviewServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ReviewError> {
        let key = &services.author_key;
        let event = match command {
            ReviewCommand::Write(write) => self.write(&write, key)?,
            ReviewCommand::Edit(edit) => self.edit(&edit, key)?,
            ReviewCommand::Delete(delete) => self.delete(&delete, key)?,
            ReviewCommand::MarkHelpful(mark) => self.mark_helpful(&mark, key)?,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: ReviewEvent) {
        match event {
            ReviewEvent::ReviewWritten {
                author_ref,
                hospital_id,
                ..
            } => {
                self.author_ref = Some(author_ref);
                self.hospital_id = Some(hospital_id);
                self.deleted = false;
                self.helpful.clear();
            }
            ReviewEvent::ReviewEdited { .. } => {}
            ReviewEvent::ReviewDeleted { .. } => self.deleted = true,
            ReviewEvent::ReviewMarkedHelpful { voter_ref } => {
                self.helpful.insert(voter_ref);
            }
        }
    }
}

/// The checked and sealed content of a write or an edit.
struct Content {
    ratings: Ratings,
    title: EventText,
    pros: EventText,
    cons: EventText,
    advice: Option<EventText>,
}

/// Checks ratings and texts, in that order, and seals the texts as fields of the review.
fn content(
    review_id: Uuid,
    ratings: Ratings,
    texts: [&str; 3],
    advice: Option<&str>,
    key: &ContentKey,
) -> Result<Content, ReviewError> {
    let ratings = ratings.checked()?;
    let [title, pros, cons] = texts;
    let (title, pros, cons) = (TITLE.check(title)?, PROS.check(pros)?, CONS.check(cons)?);
    // A blank advice box counts as no advice.
    let advice = match advice.map(str::trim) {
        None | Some("") => None,
        Some(advice) => Some(ADVICE.check(advice)?),
    };
    let seal =
        |field: &str, text: &str| EventText::Sealed(key.seal(Review::TYPE, review_id, field, text));
    Ok(Content {
        ratings,
        title: seal("title", &title),
        pros: seal("pros", &pros),
        cons: seal("cons", &cons),
        advice: advice.map(|advice| seal("advice", &advice)),
    })
}

impl Review {
    /// Whether the review exists and is not deleted (it can be reported).
    pub fn is_live(&self) -> bool {
        self.live().is_ok()
    }

    /// The hospital reviewed, once a review was written: where an editing author must still
    /// be an insider.
    pub fn hospital_id(&self) -> Option<Uuid> {
        self.hospital_id
    }

    /// Whether a review was written and not deleted, or why not.
    fn live(&self) -> Result<(), ReviewError> {
        if self.author_ref.is_none() {
            return Err(ReviewError::NotFound);
        }
        if self.deleted {
            return Err(ReviewError::Deleted);
        }
        Ok(())
    }

    fn is_author(&self, key: &AuthorKey, review_id: Uuid, member: MemberId) -> bool {
        self.author_ref.as_ref() == Some(&key.author_ref(Self::TYPE, review_id, member))
    }

    fn write(&self, command: &WriteReview, key: &AuthorKey) -> Result<ReviewEvent, ReviewError> {
        if command.review_id != key.derive_id(Self::TYPE, command.hospital_id, command.author) {
            return Err(ReviewError::IdMismatch);
        }
        if self.author_ref.is_some() && !self.deleted {
            return Err(ReviewError::AlreadyWritten);
        }
        let Content {
            ratings,
            title,
            pros,
            cons,
            advice,
        } = content(
            command.review_id,
            command.ratings,
            [&command.title, &command.pros, &command.cons],
            command.advice.as_deref(),
            &command.content_key,
        )?;
        Ok(ReviewEvent::ReviewWritten {
            hospital_id: command.hospital_id,
            ratings,
            title,
            pros,
            cons,
            advice,
            would_recommend: command.would_recommend,
            // Only a label readers will see is recorded at all.
            label: command.label_shown.then_some(ReviewLabel {
                job_category: command.insider.job_category,
                tenure: command.insider.tenure,
            }),
            author_ref: key.author_ref(Self::TYPE, command.review_id, command.author),
        })
    }

    fn edit(&self, command: &EditReview, key: &AuthorKey) -> Result<ReviewEvent, ReviewError> {
        self.live()?;
        if !self.is_author(key, command.review_id, command.actor) {
            return Err(ReviewError::NotAuthor);
        }
        if !command.insider {
            return Err(ReviewError::NotInsider);
        }
        let Content {
            ratings,
            title,
            pros,
            cons,
            advice,
        } = content(
            command.review_id,
            command.ratings,
            [&command.title, &command.pros, &command.cons],
            command.advice.as_deref(),
            &command.content_key,
        )?;
        Ok(ReviewEvent::ReviewEdited {
            ratings,
            title,
            pros,
            cons,
            advice,
            would_recommend: command.would_recommend,
        })
    }

    fn delete(&self, command: &DeleteReview, key: &AuthorKey) -> Result<ReviewEvent, ReviewError> {
        self.live()?;
        let by = if self.is_author(key, command.review_id, command.actor) {
            DeletedBy::Author
        } else if command.as_moderator {
            DeletedBy::Moderator
        } else {
            return Err(ReviewError::NotAuthor);
        };
        Ok(ReviewEvent::ReviewDeleted { by })
    }

    fn mark_helpful(
        &self,
        command: &MarkHelpful,
        key: &AuthorKey,
    ) -> Result<ReviewEvent, ReviewError> {
        self.live()?;
        if self.is_author(key, command.review_id, command.voter) {
            return Err(ReviewError::OwnHelpful);
        }
        let voter_ref = key.author_ref("helpful", command.review_id, command.voter);
        if self.helpful.contains(&voter_ref) {
            return Err(ReviewError::AlreadyHelpful);
        }
        Ok(ReviewEvent::ReviewMarkedHelpful { voter_ref })
    }
}
