// Command benchgen writes a CSV of realistic, unique contacts for
// scripts/bench.sh: first/last name, a unique email, a unique US phone
// number that libphonenumber judges valid, company, city, state and a Tags
// column of three or four common tags plus one varied one (of 200), or with
// -fixed-tags the same four tags on every row.
//
//	go run ./scripts/benchgen -n 100000 -o out/bench/contacts-100k.csv
//
// The same -n and -seed always give the same file.
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

var (
	firstNames = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
		"Mia", "William", "Charlotte", "Benjamin", "Amelia", "Lucas", "Harper", "Henry", "Evelyn", "Alexander",
		"Abigail", "Mason", "Emily", "Michael", "Ella", "Ethan", "Elizabeth", "Daniel", "Camila", "Jacob",
		"María", "José", "Zoë", "Renée"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
		"Lee", "Perez", "Thompson", "White", "Harris", "O'Brien", "McDonald", "Nguyen", "Müller", "Núñez"}
	companies = []string{"Acme Dental", "Summit Roofing", "Blue Ridge Realty", "Harbor Fitness", "Pioneer Auto Repair",
		"Golden Gate Plumbing", "Redwood Insurance", "Silverline HVAC", "Northstar Legal", "Sunrise Med Spa", ""}
	// city, state, area code (real, assigned area codes of that city)
	places = []struct{ city, state, area string }{
		{"New York", "NY", "212"}, {"Chicago", "IL", "312"}, {"San Francisco", "CA", "415"}, {"Austin", "TX", "512"},
		{"Boston", "MA", "617"}, {"Las Vegas", "NV", "702"}, {"Seattle", "WA", "206"}, {"Denver", "CO", "303"},
		{"Atlanta", "GA", "404"}, {"Miami", "FL", "305"}, {"Los Angeles", "CA", "213"}, {"Phoenix", "AZ", "602"},
		{"Houston", "TX", "713"}, {"Dallas", "TX", "214"}, {"Portland", "OR", "503"}, {"Raleigh", "NC", "919"},
		{"San Diego", "CA", "619"}, {"Minneapolis", "MN", "612"}, {"Nashville", "TN", "615"}, {"Philadelphia", "PA", "215"},
	}
	domains = []string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "example.com"}
	common  = []string{"customer", "newsletter", "lead", "bench-import"}
)

func main() {
	n := flag.Int("n", 100000, "rows")
	out := flag.String("o", "-", "output file (- for stdout)")
	seed := flag.Uint64("seed", 1, "seed")
	fixed := flag.Bool("fixed-tags", false, "give every row the same four tags (one tag set: the floor of tag requests)")
	flag.Parse()
	if err := run(*n, *out, *seed, *fixed); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func run(n int, out string, seed uint64, fixed bool) error {
	f := os.Stdout
	if out != "-" {
		var err error
		if f, err = os.Create(out + ".tmp"); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	r := rand.New(rand.NewPCG(seed, 0xbe7c))
	_ = w.Write([]string{"First Name", "Last Name", "Email", "Phone", "Company", "City", "State", "Tags"})
	checked := 0
	for i := range n {
		first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		pl := places[i%len(places)]
		// unique per i: 20 area codes x 790 exchanges x 10,000 lines.
		rest := i / len(places)
		exch := 200 + (rest/10000)%790
		if exch%100 == 11 || exch == 555 { // N11 service codes and 555 are not assignable
			exch++
		}
		phone := fmt.Sprintf("(%s) %03d-%04d", pl.area, exch, rest%10000)
		if i%997 == 0 || rest%10000 == 0 { // spot-check validity with libphonenumber (every exchange and a sample)
			num, err := phonenumbers.Parse(phone, "US")
			if err != nil || !phonenumbers.IsValidNumber(num) {
				return fmt.Errorf("row %d: phone %s is not valid", i+1, phone)
			}
			checked++
		}
		email := fmt.Sprintf("%s.%s.%d@%s", ascii(first), ascii(last), i, domains[r.IntN(len(domains))])
		k := 3 + r.IntN(2)
		tags := make([]string, 0, k+1)
		for _, j := range r.Perm(len(common))[:k] {
			tags = append(tags, common[j])
		}
		tags = append(tags, "cohort-"+strconv.Itoa(r.IntN(200)))
		if fixed {
			tags = common
		}
		if err := w.Write([]string{first, last, email, phone, companies[r.IntN(len(companies))], pl.city, pl.state,
			strings.Join(tags, ";")}); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if out != "-" {
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "benchgen: %d rows (%d phones checked with libphonenumber)\n", n, checked)
	return nil
}

// ascii lower-cases s and drops what an email local part would not carry.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'á':
			b.WriteByte('a')
		case r == 'é' || r == 'ë':
			b.WriteByte('e')
		case r == 'ü' || r == 'ú':
			b.WriteByte('u')
		case r == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}
