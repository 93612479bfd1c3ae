package partner

import "errors"

var (
	// ErrForbiddenAddress is wrapped by the error of a dial refused by the
	// SSRF guard: the endpoint resolved to a loopback, private, link-local
	// or otherwise non-public address and allow_private_networks is off.
	// Such a delivery is final: it goes to the deadletter with the reason.
	ErrForbiddenAddress = errors.New("partner: endpoint address not allowed")
	// ErrInvalidConfig is wrapped by Config.Validate's error.
	ErrInvalidConfig = errors.New("partner: invalid sink configuration")
	// ErrMissingSecret is returned by New when a partner's secret_env names
	// an unset variable or its secret_file cannot be read.
	ErrMissingSecret = errors.New("partner: signing secret not available")
	// ErrClosed is returned by a Sink used after Close.
	ErrClosed = errors.New("partner: sink closed")
	// ErrUnknownPartner is returned for a job naming a partner the
	// configuration does not have.
	ErrUnknownPartner = errors.New("partner: unknown partner")
	// ErrNotFound is returned by the admin API for a postback_id with no
	// recorded status.
	ErrNotFound = errors.New("partner: postback not found")
)
