package importer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// ScopeFieldsWrite is the scope POST /locations/{id}/customFields needs.
const ScopeFieldsWrite auth.Scope = "locations/customFields.write"

// FieldsToCreate is what --create-fields would create: the mapping's
// custom fields the location's definitions (defs) lack, each typed by the
// mapping's type:. It also returns defs with those fields added as they
// will be (no id yet: rows name them by key), for Compile. A missing field
// without a type: is a refusal.
func FieldsToCreate(spec *transform.Spec, defs []ghl.CustomField) ([]transform.FieldToCreate, []ghl.CustomField, error) {
	missing, err := spec.MissingCustomFields(defs)
	if err != nil {
		return nil, nil, pipeline.Refused(fmt.Errorf("--create-fields:\n%w", err))
	}
	all := append([]ghl.CustomField(nil), defs...)
	for _, f := range missing {
		all = append(all, ghl.CustomField{Name: f.Name, FieldKey: "contact." + f.Key, DataType: f.DataType, PicklistOptions: f.Options, Model: "contact"})
	}
	return missing, all, nil
}

// CheckFieldsWrite refuses (exit 2, before any write) a token that can't
// create custom fields: known from its recorded scopes, or else from a
// probe (an empty create, which a token with the scope sees refused as
// invalid, changing nothing).
func CheckFieldsWrite(ctx context.Context, s *session.Session, missing []transform.FieldToCreate) error {
	if len(missing) == 0 {
		return nil
	}
	lacks := func() error {
		keys := make([]string, len(missing))
		for i, f := range missing {
			keys[i] = f.Key
		}
		return pipeline.Refused(fmt.Errorf("--create-fields: the token lacks the %s scope, needed to create %d custom field(s) (%s): add it to the private integration or app (or ghlbulk auth login --scopes ...,%s), or create the fields in HighLevel and drop --create-fields",
			ScopeFieldsWrite, len(missing), strings.Join(keys, ", "), ScopeFieldsWrite))
	}
	if has, known := s.Info.HasScope(ScopeFieldsWrite); known {
		if !has {
			return lacks()
		}
		return nil
	}
	var status int
	err := s.BeforeRun(s.Context(ctx), func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Client.BaseURL()+"/locations/"+s.Location+"/customFields", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Version", ghl.APIVersion)
		resp, err := s.HTTP.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		status = resp.StatusCode
		return nil
	})
	if err != nil {
		return session.Refusal(err)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return lacks()
	}
	return nil
}

// CreateFields creates the missing custom fields, after the contacts.write
// check (a token that can't write contacts must not leave fields behind).
// A refusal from the API is exit 2; fields created before it stay, and a
// re-run finds them.
func CreateFields(ctx context.Context, s *session.Session, m record.Meter, missing []transform.FieldToCreate, log *slog.Logger) error {
	if len(missing) == 0 {
		return nil
	}
	ctx = s.Context(ctx)
	if err := s.WriteCheck(ctx); err != nil {
		return session.Refusal(err)
	}
	for _, f := range missing {
		req := ghl.CreateCustomFieldRequest{Name: f.Name, DataType: f.DataType, FieldKey: "contact." + f.Key, Model: "contact", Options: f.Options}
		var made *ghl.CustomField
		err := s.BeforeRun(ctx, func(ctx context.Context) (err error) {
			made, err = s.Client.CreateCustomField(ctx, s.Location, req)
			return err
		})
		if err != nil {
			return session.Refusal(fmt.Errorf("--create-fields: creating custom field %s (%s): %w", f.Key, f.DataType, err))
		}
		m.Request()
		m.RequestKind("custom_field")
		log.Info("custom field created", "key", made.FieldKey, "type", made.DataType, "id", made.ID)
	}
	return nil
}
