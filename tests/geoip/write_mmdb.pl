#!/usr/bin/perl
# Writes MaxMind DB (.mmdb) test databases with MaxMind's own writer (libmaxmind-db-writer-perl).
#
# One database:
#   write_mmdb.pl --out FILE [--layout geoip2|flat] [--ip-version 4|6] [--database-type TYPE]
#                 [--record-size 24|28|32] [--no-ipv4-alias] [--generate N] [--truncate BYTES]
#                 [RECORDS.jsonl | -]
# Many databases from one description (one perl start-up for a whole test suite):
#   write_mmdb.pl --batch SPEC.json --out-dir DIR
#
# A record is one JSON object per line (or an element of "records" in a batch spec):
#   {"network": "81.2.69.0/24", "country": "GB", "registered_country": "GB",
#    "asn": 3320, "org": "Example AS", "raw": {"any_key": "merged into the record as is"}}
# In the geoip2 layout "country" becomes country.iso_code and "registered_country" becomes
# registered_country.iso_code; in the flat layout (ip-location-db) "country" becomes country_code.
# "asn"/"org" become autonomous_system_number/autonomous_system_organization in both layouts.
#
# A batch spec is a JSON array of objects with the keys file, layout, ip_version, database_type,
# record_size, ipv4_alias, generate, truncate, types (key => MaxMind DB type overrides) and
# records; or {"file": ..., "garbage": BYTES} for a file of pseudo-random bytes.
use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use JSON::PP ();
use MaxMind::DB::Writer::Tree ();

# The MaxMind DB type of every key the tests write; anything else is a UTF-8 string.
my %default_key_types = (
    country                        => 'map',
    registered_country             => 'map',
    represented_country            => 'map',
    continent                      => 'map',
    traits                         => 'map',
    names                          => 'map',
    location                       => 'map',
    city                           => 'map',
    subdivisions                   => [ 'array', 'map' ],
    geoname_id                     => 'uint32',
    autonomous_system_number       => 'uint32',
    is_in_european_union           => 'boolean',
    latitude                       => 'double',
    longitude                      => 'double',
);

# Some countries and AS numbers to spread over generated networks.
my @generated_countries = qw(
    DE FR GB US CA BR AR JP CN IN AU NZ ZA NG EG KE RU UA PL CZ AT CH IT ES PT NL BE SE NO FI
    DK IE IS MX CL PE CO VE KR KP TW HK SG MY TH VN ID PH TR IL SA AE IR
);

sub usage {
    print STDERR <<'END';
usage: write_mmdb.pl --out FILE [--layout geoip2|flat] [--ip-version 4|6]
                     [--database-type TYPE] [--record-size 24|28|32] [--no-ipv4-alias]
                     [--generate N] [--truncate BYTES] [RECORDS.jsonl | -]
       write_mmdb.pl --batch SPEC.json --out-dir DIR
END
    exit 2;
}

# Turns one simple record into the data map of the chosen layout.
sub record_data {
    my ( $layout, $record ) = @_;
    my %data;
    if ( defined $record->{country} ) {
        if ( $layout eq 'flat' ) {
            $data{country_code} = $record->{country};
        }
        else {
            $data{country} = {
                iso_code => $record->{country},
                names    => { en => $record->{country} },
            };
        }
    }
    if ( defined $record->{registered_country} ) {
        die "registered_country exists only in the geoip2 layout\n" if $layout eq 'flat';
        $data{registered_country} = { iso_code => $record->{registered_country} };
    }
    $data{autonomous_system_number} = $record->{asn} + 0 if defined $record->{asn};
    $data{autonomous_system_organization} = $record->{org} if defined $record->{org};
    if ( defined $record->{raw} ) {
        %data = ( %data, %{ $record->{raw} } );
    }
    return \%data;
}

# Yields deterministic, distinct networks for benchmarks: N IPv4 /24 blocks, and in an IPv6 tree
# also N IPv6 /48 blocks under 2a00::/16. Multiplying by an odd constant modulo a power of two is
# a bijection, so no two blocks collide.
sub generated_records {
    my ( $count, $ip_version ) = @_;
    my @records;
    for my $i ( 0 .. $count - 1 ) {
        my $block = ( $i * 2654435761 ) % ( 1 << 24 );
        my $network = sprintf( '%d.%d.%d.0/24',
            ( $block >> 16 ) & 255, ( $block >> 8 ) & 255, $block & 255 );
        push @records, {
            network => $network,
            country => $generated_countries[ $i % @generated_countries ],
            asn     => 1000 + ( $i % 5000 ),
        };
        next unless $ip_version == 6;
        my $v6block = ( $i * 2246822519 ) % ( 1 << 32 );
        push @records, {
            network => sprintf( '2a00:%x:%x::/48', ( $v6block >> 16 ) & 0xffff,
                $v6block & 0xffff ),
            country => $generated_countries[ ( $i + 7 ) % @generated_countries ],
            asn     => 70000 + ( $i % 5000 ),
        };
    }
    return @records;
}

sub write_garbage {
    my ( $path, $bytes ) = @_;
    open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
    my $state = 12345;
    for ( 1 .. $bytes ) {
        $state = ( $state * 1103515245 + 12345 ) % 2147483648;
        print {$fh} chr( ( $state >> 16 ) & 255 );
    }
    close $fh or die "cannot write $path: $!\n";
}

# Writes one database described by %$spec to $path.
sub write_database {
    my ( $path, $spec ) = @_;
    if ( defined $spec->{garbage} ) {
        write_garbage( $path, $spec->{garbage} );
        return;
    }
    my $layout     = $spec->{layout}     // 'geoip2';
    my $ip_version = $spec->{ip_version} // 6;
    die "layout must be geoip2 or flat\n" unless $layout eq 'geoip2' || $layout eq 'flat';
    die "ip_version must be 4 or 6\n" unless $ip_version == 4 || $ip_version == 6;
    my $default_type = $layout eq 'flat' ? 'ip-location-db-test' : 'GeoLite2-Country';
    my %types = ( %default_key_types, %{ $spec->{types} // {} } );

    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version    => $ip_version,
        record_size   => $spec->{record_size} // 24,
        database_type => $spec->{database_type} // $default_type,
        languages     => ['en'],
        description   => { en => 'authpolicy test database' },
        # The writer drops private and other reserved ranges unless told not to; the tests need
        # them (offices sit in 10.0.0.0/8 and fd00::/8).
        remove_reserved_networks => 0,
        # Like MaxMind's own databases: ::ffff:0:0/96 (IPv4-mapped), 2002::/16 (6to4) and
        # 2001::/32 (Teredo) lead to the IPv4 records, so other readers such as mmdblookup
        # answer for mapped addresses too. The component itself looks mapped addresses up as
        # IPv4, so it answers the same with or without the alias.
        alias_ipv6_to_ipv4 => ( $ip_version == 6 && ( $spec->{ipv4_alias} // 1 ) ) ? 1 : 0,
        map_key_type_callback => sub { $types{ $_[0] } // 'utf8_string' },
    );

    my @records = @{ $spec->{records} // [] };
    push @records, generated_records( $spec->{generate}, $ip_version ) if $spec->{generate};
    for my $record (@records) {
        die "record without network\n" unless defined $record->{network};
        $tree->insert_network( $record->{network}, record_data( $layout, $record ) );
    }

    open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
    $tree->write_tree($fh);
    close $fh or die "cannot write $path: $!\n";

    if ( defined $spec->{truncate} ) {
        truncate( $path, $spec->{truncate} ) or die "cannot truncate $path: $!\n";
    }
}

sub read_json_lines {
    my ($source) = @_;
    my $fh;
    if ( $source eq '-' ) {
        $fh = \*STDIN;
    }
    else {
        open $fh, '<', $source or die "cannot read $source: $!\n";
    }
    my @records;
    while ( my $line = <$fh> ) {
        next if $line =~ /^\s*(#|$)/;
        push @records, JSON::PP->new->decode($line);
    }
    return @records;
}

my %option;
GetOptions(
    'out=s'           => \$option{out},
    'layout=s'        => \$option{layout},
    'ip-version=i'    => \$option{ip_version},
    'database-type=s' => \$option{database_type},
    'record-size=i'   => \$option{record_size},
    'no-ipv4-alias'   => sub { $option{ipv4_alias} = 0 },
    'generate=i'      => \$option{generate},
    'truncate=i'      => \$option{truncate},
    'batch=s'         => \$option{batch},
    'out-dir=s'       => \$option{out_dir},
) or usage();

if ( defined $option{batch} ) {
    usage() unless defined $option{out_dir};
    open my $fh, '<', $option{batch} or die "cannot read $option{batch}: $!\n";
    my $spec_list = JSON::PP->new->relaxed->decode( do { local $/; <$fh> } );
    for my $spec (@$spec_list) {
        die "database spec without file\n" unless defined $spec->{file};
        die "file name must be plain: $spec->{file}\n" if $spec->{file} =~ m{/};
        write_database( "$option{out_dir}/$spec->{file}", $spec );
    }
    exit 0;
}

usage() unless defined $option{out};
my %spec = map { defined $option{$_} ? ( $_ => $option{$_} ) : () }
    qw(layout ip_version database_type record_size ipv4_alias generate truncate);
$spec{records} = [ read_json_lines( $ARGV[0] // '-' ) ] if @ARGV || !$option{generate};
write_database( $option{out}, \%spec );
