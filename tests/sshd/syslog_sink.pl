#!/usr/bin/perl
# A syslog socket for sshd's private /dev in the sshd system test: appends each message to a file.
#
# usage: syslog_sink.pl SOCKET_PATH OUTPUT_FILE [MAX_SECONDS]
# The test mounts a folder holding SOCKET_PATH over /dev in sshd's own mount namespace, so
# pam_policy.so's decision lines (pam_syslog -> /dev/log) land here and nowhere else. Exits by
# itself after MAX_SECONDS (default 600) so a test killed before its clean-up leaves nothing
# running for long.
use strict;
use warnings;

use IO::Handle;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);

my ( $socket_path, $output_path, $max_seconds ) = @ARGV;
die "usage: syslog_sink.pl SOCKET_PATH OUTPUT_FILE [MAX_SECONDS]\n"
    unless defined $socket_path && defined $output_path;
$max_seconds //= 600;

open my $output, '>>', $output_path or die "cannot write $output_path: $!\n";
$output->autoflush(1);
unlink $socket_path;
my $socket = IO::Socket::UNIX->new( Type => SOCK_DGRAM, Local => $socket_path )
    or die "cannot bind $socket_path: $!\n";
chmod 0666, $socket_path;

$SIG{ALRM} = sub { exit 0 };
$SIG{TERM} = sub { exit 0 };
alarm $max_seconds;
while (1) {
    my $message;
    last unless defined $socket->recv( $message, 65536 );
    $message =~ s/\0+\z//;
    $message =~ s/\n+\z//;
    print {$output} "$message\n";
}
