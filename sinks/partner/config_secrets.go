package partner

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// readSecrets reads every partner's signing secret into its Secret field,
// so that New signs with what was checked and does not read it again. It
// reports, as a *FieldError at the line of secret_env or secret_file and
// wrapping ErrMissingSecret, each secret New would refuse or silently not
// use: a secret_env that is unset or empty, a secret_file that is missing,
// unreadable or empty, and a "whsec_" secret that is not base64 (or holds
// no key). file and node are those given to ParseConfig. No message holds
// a secret's value.
func readSecrets(file string, node *yaml.Node, c *Config) []error {
	var errs []error
	for i := range c.Partners {
		p := &c.Partners[i]
		at := fmt.Sprintf("partners[%d].", i)
		for _, sec := range []struct {
			env, file, envField, fileField string
			dst                            *string
			signing                        bool
		}{
			{p.SecretEnv, p.SecretFile, "secret_env", "secret_file", &p.Secret, true},
			{p.PreviousSecretEnv, p.PreviousSecretFile, "previous_secret_env", "previous_secret_file", &p.PreviousSecret, true},
			{p.Auth.BearerTokenEnv, p.Auth.BearerTokenFile, "auth.bearer_token_env", "auth.bearer_token_file", &p.BearerToken, false},
			{p.Auth.OAuth2.ClientSecretEnv, p.Auth.OAuth2.ClientSecretFile, "auth.oauth2.client_secret_env", "auth.oauth2.client_secret_file", &p.Auth.OAuth2.ClientSecret, false},
		} {
			if *sec.dst != "" || (sec.env == "" && sec.file == "") {
				continue
			}
			field := at + sec.envField
			if sec.env == "" {
				field = at + sec.fileField
			}
			secret, msg := readNamedSecret(sec.env, sec.file)
			if msg == "" && sec.signing {
				if _, err := signingKey(secret); err != nil {
					msg = "whsec_ secret is not base64: a Standard Webhooks secret is whsec_ and the key in base64"
				} else if secret == "whsec_" {
					msg = "whsec_ secret holds no key"
				}
			}
			if msg != "" {
				line := 0
				if n := nodeAt(node, field); n != nil {
					line = n.Line
				}
				errs = append(errs, &FieldError{File: file, Line: line, Field: "sink." + field, Msg: msg, Err: ErrMissingSecret})
				continue
			}
			*sec.dst = secret
		}
		if _, err := loadTLS(p.Auth); err != nil {
			field := at + "auth.cert_file"
			if p.Auth.CertFile == "" {
				field = at + "auth.ca_file"
			}
			line := 0
			if n := nodeAt(node, field); n != nil {
				line = n.Line
			}
			errs = append(errs, &FieldError{File: file, Line: line, Field: "sink." + field, Msg: err.Error(), Err: ErrMissingSecret})
		}
	}
	return errs
}

// readNamedSecret reads the secret an env variable or a file names, or
// says what is wrong with it. An empty value is wrong, not "none": the
// operator named a secret, and a partner that verifies it would refuse
// every postback.
func readNamedSecret(env, file string) (string, string) {
	if env != "" && file != "" {
		return "", "" // compile reports both set; New refuses it
	}
	v, err := config.Secret(env, file)
	switch {
	case err != nil && env != "":
		return "", err.Error()
	case err != nil:
		return "", fmt.Sprintf("cannot read the secret: %v", unwrapPath(err))
	case v == "" && env != "":
		return "", fmt.Sprintf("environment variable %s is empty", env)
	case v == "":
		return "", fmt.Sprintf("%s is empty", file)
	}
	return v, ""
}

// unwrapPath shortens "open /x: no such file or directory" to "/x: no such
// file or directory".
func unwrapPath(err error) string {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return strings.TrimSpace(err.Error())
}
