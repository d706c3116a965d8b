package billing

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"tollgate/radius"
)

// NotifyTx runs fn in one transaction with the outbox and the notification store bound
// to it: it commits when fn returns nil and rolls everything back otherwise. cmd builds
// it from radius/pg.WithTx and billing/postgres, so this package stays free of drivers.
type NotifyTx func(ctx context.Context, fn func(events EventStore, notes NotificationStore) error) error

// Notifier takes billing's events to the subscribers' inboxes in two steps, each a cron
// job: Dispatch turns pending events into queued messages, SendDue delivers the messages
// that are due, with bounded retries, logging every attempt. SendAdminAlert queues an
// email to the portal's admins.
type Notifier struct {
	InTx NotifyTx
	// Email and SMS deliver on their channel; a nil one turns its channel off, and no
	// message is queued for it.
	Email Sender
	SMS   Sender
	// Templates renders the events' messages; nil means MustTemplates.
	Templates *Templates
	// Operator signs the messages (TOLLGATE_OPERATOR_NAME).
	Operator string
	// Admins returns the email addresses of the enabled portal admins; nil means none.
	Admins func(ctx context.Context) ([]string, error)
	Now    func() time.Time
	// Batch is how many events one dispatch transaction claims, and how many messages
	// one SendDue pass sends at most; 0 means 100.
	Batch int
	// Timeout bounds one delivery attempt; 0 means 10 s.
	Timeout time.Duration
}

var _ AdminAlerter = (*Notifier)(nil)

// Channels returns the channels n can send on.
func (n *Notifier) Channels() Channels { return Channels{Email: n.Email != nil, SMS: n.SMS != nil} }

func (n *Notifier) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

func (n *Notifier) batch() int {
	if n.Batch <= 0 {
		return 100
	}
	return n.Batch
}

func (n *Notifier) timeout() time.Duration {
	if n.Timeout <= 0 {
		return 10 * time.Second
	}
	return n.Timeout
}

// DispatchResult is what one Dispatch did: events processed, messages queued, and the
// kinds of events processed without a message because no template knows them.
type DispatchResult struct {
	Events  int
	Queued  int
	Unknown []EventKind
}

// Dispatch processes every pending event, a batch per transaction: it claims the batch
// (rows other dispatchers skip), queues one message per channel its subscriber consented
// to and can receive on (NotifyChannels), rendered from the templates, and marks the
// events processed, all in that transaction. So two dispatchers at once (two replicas)
// never queue a message twice, and a crash queues nothing or everything of a batch. An
// event whose subscriber receives nothing (no consent, no address, its channel off) is
// processed all the same: turning a channel on later does not send old news.
func (n *Notifier) Dispatch(ctx context.Context) (DispatchResult, error) {
	var total DispatchResult
	on := n.Channels()
	tpl := n.Templates
	if tpl == nil {
		tpl = MustTemplates()
	}
	for {
		var r DispatchResult
		err := n.InTx(ctx, func(events EventStore, notes NotificationStore) error {
			r = DispatchResult{}
			evs, err := events.ClaimEvents(ctx, n.batch())
			if err != nil || len(evs) == 0 {
				return err
			}
			ids := make([]int64, 0, len(evs))
			subs := make([]int64, 0, len(evs))
			for _, e := range evs {
				ids = append(ids, e.ID)
				subs = append(subs, e.SubscriberID)
			}
			contacts, err := notes.FindContacts(ctx, subs)
			if err != nil {
				return err
			}
			now := n.now()
			var queue []Notification
			for _, e := range evs {
				if !tpl.Has(e.Kind) {
					if !slices.Contains(r.Unknown, e.Kind) {
						r.Unknown = append(r.Unknown, e.Kind)
					}
					continue
				}
				c, ok := contacts[e.SubscriberID]
				if !ok {
					continue
				}
				d := MessageData{Operator: n.Operator, Name: c.Name, Username: c.Username, Data: e.Data}
				if d.Name == "" {
					d.Name = c.Username
				}
				for _, ch := range NotifyChannels(e.Kind, c, on) {
					subject, body, err := tpl.Render(e.Kind, ch, d)
					if err != nil {
						return err
					}
					to := c.Email
					if ch == ChannelSMS {
						to = c.Phone
					}
					queue = append(queue, Notification{
						EventID: e.ID, SubscriberID: e.SubscriberID, Kind: e.Kind, Channel: ch,
						Recipient: to, Subject: subject, Body: body, NextAttemptAt: now,
					})
				}
			}
			if r.Queued, err = notes.QueueNotifications(ctx, queue); err != nil {
				return err
			}
			r.Events = len(evs)
			return events.MarkEventsProcessed(ctx, ids, now)
		})
		if err != nil {
			return total, err
		}
		total.Events += r.Events
		total.Queued += r.Queued
		for _, k := range r.Unknown {
			if !slices.Contains(total.Unknown, k) {
				total.Unknown = append(total.Unknown, k)
			}
		}
		if r.Events < n.batch() {
			return total, nil
		}
	}
}

// SendResult is what one SendDue pass did with the attempts it made.
type SendResult struct {
	Sent     int // delivered
	Retrying int // failed, tried again later
	Failed   int // failed for the last time
	// Withheld were not sent: since they were queued, the subscriber withdrew the
	// consent they needed or restricted processing (MayNotify at send time).
	Withheld int
}

// WithheldError is the log's error of a message MayNotify no longer allows.
const WithheldError = "withheld: the subscriber's consents or restriction no longer allow it"

// mayStillSend asks MayNotify about m again with the subscriber's consents and
// restriction as they are now: a withdrawal applies to what is already queued too. A
// message of no subscriber (an admin alert) always may.
func mayStillSend(ctx context.Context, notes NotificationStore, m *Notification) (bool, error) {
	if m.SubscriberID == 0 {
		return true, nil
	}
	cs, err := notes.FindContacts(ctx, []int64{m.SubscriberID})
	if err != nil {
		return false, err
	}
	c, ok := cs[m.SubscriberID]
	if !ok {
		return false, nil
	}
	st := NotifyState{Consents: Consents{RemindersEmail: c.NotifyEmail, RemindersSMS: c.NotifySMS, Marketing: c.Marketing}, Restricted: c.Restricted}
	return MayNotify(m.Kind, m.Channel, st), nil
}

// SendDue delivers the messages that are due on the channels that are on, one
// transaction per message: it claims the message (other senders skip it), asks
// MayNotify again with the subscriber's consents as they are now (a message they no
// longer allow is withheld: logged as not sent, and failed), sends it,
// writes the attempt to the log and moves the message on (sent, queued until its next
// try, or failed after MaxAttempts) in that same transaction. It stops after Batch
// messages or when none is due.
//
// A message is sent at most once when its send succeeded, since the attempt's outcome
// commits with the claim; but when the process dies (or Postgres goes) between the
// provider's acceptance (SMTP 250, HTTP 2xx) and the commit, the message is still
// queued and will be sent again: that window is inherent to sending outside the
// database. Email carries a Message-ID made from the message's id, so a resent copy is
// recognizably the same message. A send cut short by ctx (shutdown) is not counted as an
// attempt.
func (n *Notifier) SendDue(ctx context.Context) (SendResult, error) {
	var res SendResult
	channels := n.Channels().List()
	if len(channels) == 0 {
		return res, nil
	}
	for i := 0; i < n.batch() && ctx.Err() == nil; i++ {
		var outcome NotificationState
		done, withheld := false, false
		// The claim and the record run on a context that shutdown does not cancel, so a
		// message delivered just before it is still recorded as sent.
		txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.timeout()+30*time.Second)
		err := n.InTx(txCtx, func(_ EventStore, notes NotificationStore) error {
			m, err := notes.ClaimNotification(txCtx, n.now(), channels)
			if radius.ErrorCode(err) == radius.ENOTFOUND {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			if ok, err := mayStillSend(txCtx, notes, m); err != nil {
				return err
			} else if !ok {
				outcome = StateFailed
				withheld = true
				return notes.RecordAttempt(txCtx, Attempt{At: n.now(), NotificationID: m.ID, Attempt: m.Attempts + 1, Channel: m.Channel,
					Recipient: m.Recipient, Error: WithheldError}, StateFailed, time.Time{})
			}
			sender := n.Email
			if m.Channel == ChannelSMS {
				sender = n.SMS
			}
			sendCtx, cancelSend := context.WithTimeout(ctx, n.timeout())
			pid, sendErr := sender.Send(sendCtx, m)
			cancelSend()
			if sendErr != nil && ctx.Err() != nil {
				return ctx.Err() // shutting down: no attempt, the message stays due
			}
			a := Attempt{At: n.now(), NotificationID: m.ID, Attempt: m.Attempts + 1, Channel: m.Channel,
				Recipient: m.Recipient, OK: sendErr == nil, ProviderID: clip(pid, 200)}
			outcome = StateSent
			var next time.Time
			if sendErr != nil {
				a.Error = errorText(sendErr, sendCtx)
				outcome = StateFailed
				if t, ok := NextAttempt(a.Attempt, a.At); ok {
					outcome, next = StateQueued, t
				}
			}
			return notes.RecordAttempt(txCtx, a, outcome, next)
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return res, nil
			}
			return res, err
		}
		if done {
			break
		}
		switch {
		case withheld:
			res.Withheld++
		case outcome == StateSent:
			res.Sent++
		case outcome == StateQueued:
			res.Retrying++
		case outcome == StateFailed:
			res.Failed++
		}
	}
	return res, nil
}

// errorText is a failed attempt's error for the log: one line, at most 500 characters,
// naming a timeout as such.
func errorText(err error, sendCtx context.Context) string {
	s := err.Error()
	if errors.Is(sendCtx.Err(), context.DeadlineExceeded) && !strings.Contains(s, "timeout") {
		s = "timeout: " + s
	}
	return clip(oneLine(s), 500)
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Limits of an admin alert.
const (
	maxAlertSubject = 200
	maxAlertBody    = 10000
)

// SendAdminAlert queues subject and body as one email per enabled portal admin, sent by
// SendDue like any message (an alert has no event and no subscriber). It queues nothing
// when the email channel is off or there is no admin. EINVALID for an empty or too long
// subject or body.
func (n *Notifier) SendAdminAlert(ctx context.Context, subject, body string) error {
	subject = oneLine(subject)
	body = strings.TrimSpace(body)
	switch {
	case subject == "" || len(subject) > maxAlertSubject:
		return invalid("subject: must be 1 to %d characters", maxAlertSubject)
	case body == "" || len(body) > maxAlertBody:
		return invalid("body: must be 1 to %d characters", maxAlertBody)
	}
	if n.Email == nil || n.Admins == nil {
		return nil
	}
	admins, err := n.Admins(ctx)
	if err != nil {
		return err
	}
	if len(admins) == 0 {
		return nil
	}
	now := n.now()
	list := make([]Notification, 0, len(admins))
	for _, to := range admins {
		list = append(list, Notification{Kind: KindAdminAlert, Channel: ChannelEmail, Recipient: to,
			Subject: subject, Body: body + "\n", NextAttemptAt: now})
	}
	return n.InTx(ctx, func(_ EventStore, notes NotificationStore) error {
		_, err := notes.QueueNotifications(ctx, list)
		return err
	})
}
